// A pole of R(-x) on the positive x axis is refused.
// RUN: not deltac-opt %s --delta-discretize 2>&1 | FileCheck %s
// CHECK: error: 'delta.ode' op integrator's step is undefined at h(gam + c lam) = 1
delta.ode @pole dims(8, 8) dtype(f32) key_norm(none) scale(1.0) integrator<tableau a = [[-1]], b = [1]> inputs(%h: f32) lam(%lam: f32) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  delta.yield %h, %zero, %one, %one : f32, f32, f32, f32
}
