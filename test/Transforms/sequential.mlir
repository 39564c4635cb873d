// RUN: deltac-opt %s --delta-sequential --canonicalize --cse | FileCheck %s

// The token-by-token path: one loop over the tokens, kS = S^T k, the rank-one
// update of S and o = scale S^T q; key normalisation by 1/sqrt(||k||^2 + 1e-6).
// CHECK-LABEL: func.func @seq(
// CHECK-SAME: delta.kernel = "sequential"
// CHECK: memref.alloca() : memref<8x4xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1 {
// CHECK: math.sqrt
// CHECK: arith.divf
// CHECK: memref.store
// CHECK: return
// CHECK-NOT: delta.recurrence
delta.recurrence @seq dims(8, 4) dtype(f32) key_norm(l2) scale(0.5) inputs(%beta: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %one, %beta, %beta : f32, f32, f32
}
