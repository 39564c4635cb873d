// RUN: deltac-opt %s --delta-chunk=chunk-size=16 --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,C16
// RUN: deltac-opt %s --delta-chunk=chunk-size=32 --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,C32
// RUN: deltac-opt %s --delta-chunk=chunk-size=64 --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,C64
// RUN: deltac-opt %s --delta-chunk=chunk-size=128 --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,C128
// RUN: deltac-opt %s --delta-chunk --canonicalize --cse | FileCheck %s --check-prefixes=CHECK,C64
// RUN: not deltac-opt %s --delta-chunk=chunk-size=48 2>&1 | FileCheck %s --check-prefix=BADC
// BADC: error: chunk size must be 16, 32, 64 or 128, got 48

// A gated recurrence (g = exp(gin)), K = 32, V = 48: one function per
// (sequence, head) pair, a loop over chunks carrying the state, and the
// per-chunk matrices.
// CHECK-LABEL: func.func @gated(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<?xf32>, %[[K:[a-z0-9]+]]: memref<?xf32>, %[[V:[a-z0-9]+]]: memref<?xf32>, %[[BETA:[a-z0-9]+]]: memref<?xf32>, %[[GIN:[a-z0-9]+]]: memref<?xf32>, %[[H0:[a-z0-9]+]]: memref<?xf32>, %[[O:[a-z0-9]+]]: memref<?xf32>, %[[HT:[a-z0-9]+]]: memref<?xf32>, %[[BOS:[a-z0-9]+]]: index, %[[LEN:[a-z0-9]+]]: index
// C16-SAME: delta.chunk_size = 16
// C32-SAME: delta.chunk_size = 32
// C64-SAME: delta.chunk_size = 64
// C128-SAME: delta.chunk_size = 128
// CHECK-SAME: delta.kernel = "chunked"
// The state, then the chunk's keys/queries/values, a, b, log G, L and QK, K S0, Q S0, Delta.
// CHECK: %[[S:.*]] = memref.alloca() : memref<32x48xf32>
// C16: memref.alloca() : memref<16x32xf32>
// C16: memref.alloca() : memref<16x16xf32>
// C32: memref.alloca() : memref<32x32xf32>
// C64: memref.alloca() : memref<64x32xf32>
// C64: memref.alloca() : memref<64x64xf32>
// C128: memref.alloca() : memref<128x128xf32>
// The state comes from h0 when asked.
// CHECK: scf.if
// CHECK: memref.load %[[H0]]
// The loop over chunks.
// C16: scf.for %[[C0:.*]] = %{{.*}} to %[[LEN]] step %c16
// C32: scf.for %[[C0:.*]] = %{{.*}} to %[[LEN]] step %c32
// C64: scf.for %[[C0:.*]] = %{{.*}} to %[[LEN]] step %c64
// C128: scf.for %[[C0:.*]] = %{{.*}} to %[[LEN]] step %c128
// CHECK: arith.minsi
// Prologue: lam = ||k||^2 while loading k; the coefficient region inlined; cumulative log G.
// CHECK: memref.load %[[K]]
// CHECK: memref.load %[[Q]]
// CHECK: arith.mulf
// CHECK: memref.load %[[BETA]]
// CHECK: memref.load %[[GIN]]
// CHECK: math.exp
// CHECK: math.log
// Pairwise: K K^T and Q K^T weighted by exp(log G_i - log G_j).
// CHECK: scf.for
// CHECK: scf.for
// CHECK: math.exp
// The forward substitution for Delta, the outputs, and the state update.
// CHECK: memref.store %{{.*}}, %[[O]]
// CHECK: math.exp
// The final state goes to ht.
// CHECK: memref.store %{{.*}}, %[[HT]]
// CHECK: return
delta.recurrence @gated dims(32, 48) dtype(bf16) key_norm(none) scale(0.125) inputs(%beta: f32, %gin: f32) lam(%lam: f32) {
  %g = math.exp %gin : f32
  delta.yield %g, %beta, %beta : f32, f32, f32
}

// Without a gate (g = 1) there are no logs or exponentials of log G.
// CHECK-LABEL: func.func @ungated
// CHECK-NOT: math.log
// CHECK-NOT: math.exp
// CHECK: return
delta.recurrence @ungated dims(16, 16) dtype(f32) key_norm(l2) scale(0.25) inputs(%beta: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %one, %beta, %beta : f32, f32, f32
}
