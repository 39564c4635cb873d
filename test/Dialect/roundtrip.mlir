// RUN: deltac-opt %s | deltac-opt | FileCheck %s
// RUN: deltac-opt %s --mlir-print-op-generic | deltac-opt | FileCheck %s

// CHECK-LABEL: delta.ode @efla dims(128, 128) dtype(bf16) key_norm(none) scale(0.088388347648318003)
// CHECK-SAME: integrator<exact> inputs(%beta: f32) lam(%lam: f32) {
// CHECK: delta.yield %beta, %{{.*}}, %{{.*}}, %{{.*}} : f32, f32, f32, f32
delta.ode @efla dims(128, 128) dtype(bf16) key_norm(none) scale(0.088388347648318) integrator<exact> inputs(%beta: f32) lam(%lam: f32) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  delta.yield %beta, %zero, %one, %one : f32, f32, f32, f32
}

// Tableau entries are exact rationals and print back as fractions.
// CHECK-LABEL: delta.ode @midpoint dims(64, 32) dtype(f16) key_norm(l2) scale(1.250000e-01)
// CHECK-SAME: integrator<tableau a = {{\[\[}}0, 0], [1/2, 0]], b = [0, 1], c = [0, 1/2]>
// CHECK-SAME: inputs(%beta: f32, %gam: f32) lam(%lam: f32)
delta.ode @midpoint dims(64, 32) dtype(f16) key_norm(l2) scale(0.125) integrator<tableau a = [[0, 0], [1/2, 0]], b = [0, 1], c = [0, 1/2]> inputs(%beta: f32, %gam: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %beta, %gam, %one, %one : f32, f32, f32, f32
}

// CHECK-LABEL: delta.ode @implicit
// CHECK-SAME: integrator<tableau a = {{\[\[}}-1/3, 7/12], [1, -1/4]], b = [3/4, 1/4]>
delta.ode @implicit dims(16, 16) dtype(f32) key_norm(none) scale(0.25) integrator<tableau a = [[-1/3, 7/12], [1, -1/4]], b = [3/4, 1/4]> inputs(%beta: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  delta.yield %beta, %zero, %one, %one : f32, f32, f32, f32
}

// The discrete form, computed in f64, with no per-token input at all.
// CHECK-LABEL: delta.recurrence @gdn dims(64, 64) dtype(bf16) key_norm(l2) scale(1.250000e-01)
// CHECK-SAME: inputs(%beta: f64, %g: f64) lam(%lam: f64) {
// CHECK: %[[D:.*]] = math.exp %g : f64
// CHECK: delta.yield %[[D]], %beta, %beta : f64, f64, f64
delta.recurrence @gdn dims(64, 64) dtype(bf16) key_norm(l2) scale(0.125) inputs(%beta: f64, %g: f64) lam(%lam: f64) {
  %d = math.exp %g : f64
  delta.yield %d, %beta, %beta : f64, f64, f64
}

// CHECK-LABEL: delta.recurrence @noinputs
// CHECK-SAME: inputs() lam(%lam: f32)
delta.recurrence @noinputs dims(8, 8) dtype(f32) key_norm(none) scale(1.0) inputs() lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  delta.yield %one, %half, %half : f32, f32, f32
}
