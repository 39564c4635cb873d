// RUN: deltac-opt %s --delta-discretize --canonicalize --cse --split-input-file | FileCheck %s

// An implicit tableau (Radau IIA, 2 stages): R(-x) = (1 - x/3) / (1 + 2x/3 + x^2/6),
// so a = b = h w(x) / m(x) with w = 1 + x/6: a division by the compensated m(x).
// CHECK-LABEL: delta.recurrence @radau
// CHECK-DAG: arith.constant 0.166666672 : f32
// CHECK: math.fma
// CHECK: %[[F:.*]] = arith.divf %{{.*}}, %{{.*}} : f32
// CHECK: %[[A:.*]] = arith.mulf %h, %[[F]] : f32
// CHECK: delta.yield %{{.*}}, %[[A]], %[[A]] : f32, f32, f32
delta.ode @radau dims(8, 8) dtype(f32) key_norm(none) scale(1.0) integrator<tableau a = [[5/12, -1/12], [3/4, 1/4]], b = [3/4, 1/4]> inputs(%h: f32) lam(%lam: f32) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  delta.yield %h, %zero, %one, %one : f32, f32, f32, f32
}

// -----

// A gate with a rational R: g = n(x_g) / m(x_g), and the divided difference for a.
// CHECK-LABEL: delta.recurrence @trap_gated
// CHECK: %[[XG:.*]] = arith.mulf %h, %gam : f64
// CHECK: %[[G:.*]] = arith.divf
// CHECK: delta.yield %[[G]], %{{.*}}, %{{.*}} : f64
delta.ode @trap_gated dims(8, 8) dtype(f32) key_norm(none) scale(1.0) integrator<trapezoid> inputs(%h: f64, %gam: f64) lam(%lam: f64) {
  %one = arith.constant 1.0 : f64
  delta.yield %h, %gam, %one, %one : f64, f64, f64, f64
}

