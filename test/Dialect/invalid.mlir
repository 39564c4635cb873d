// RUN: deltac-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{storage dtype must be bf16, f16 or f32, got 'i8'}}
delta.ode @x dims(8, 8) dtype(i8) key_norm(none) scale(1.0) integrator<exact> inputs(%b: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %b, %one, %one, %one : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{scale must be a positive finite number, got -1}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(-1.0) integrator<exact> inputs(%b: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %b, %one, %one, %one : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{body must yield 4 values (h, gam, c, d), got 3}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<exact> inputs(%b: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %b, %one, %one : f32, f32, f32
}

// -----

// expected-error @+1 {{body must yield 3 values (g, a, b), got 4}}
delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) inputs(%b: f32) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %b, %one, %one, %one : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{all body arguments must have the compute type 'f32', argument #0 has 'f64'}}
delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) inputs(%b: f64) lam(%lam: f32) {
  %one = arith.constant 1.0 : f32
  delta.yield %one, %one, %one : f32, f32, f32
}

// -----

// expected-error @+1 {{coefficients must be computed in f32 or f64, got 'f16'}}
delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) inputs() lam(%lam: f16) {
  delta.yield %lam, %lam, %lam : f16, f16, f16
}

// -----

// expected-error @+1 {{input name 'lam' is reserved for ||k||^2}}
delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) inputs(%lam: f32) lam(%l: f32) {
  delta.yield %l, %l, %l : f32, f32, f32
}

// -----

// expected-error @+1 {{'delta.recurrence' op attribute 'key_dim' failed to satisfy constraint}}
delta.recurrence @x dims(0, 8) dtype(bf16) key_norm(none) scale(1.0) inputs() lam(%l: f32) {
  delta.yield %l, %l, %l : f32, f32, f32
}

// -----

// expected-error @+1 {{dims must be at most 4096, got K = 8, V = 8192}}
delta.recurrence @x dims(8, 8192) dtype(bf16) key_norm(none) scale(1.0) inputs() lam(%l: f32) {
  delta.yield %l, %l, %l : f32, f32, f32
}

// -----

// expected-error @+1 {{key_norm must be 'none' or 'l2', got 'l1'}}
delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(l1) scale(1.0) inputs() lam(%l: f32) {
  delta.yield %l, %l, %l : f32, f32, f32
}

// -----

// expected-error @+1 {{unknown integrator 'rk44'; expected one of: euler, backward_euler}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<rk44> inputs() lam(%l: f32) {
  delta.yield %l, %l, %l, %l : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{tableau matrix a must be 2 x 2 to match the 2 weights in b}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<tableau a = [[0]], b = [1/2, 1/2]> inputs() lam(%l: f32) {
  delta.yield %l, %l, %l, %l : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{tableau nodes c must have 1 entries, one per stage}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<tableau a = [[0]], b = [1], c = [0, 1]> inputs() lam(%l: f32) {
  delta.yield %l, %l, %l, %l : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{tableau b entry 0 is not in lowest terms (2/4)}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<tableau a = [[0, 0], [1, 0]], b = [2/4, 1/2]> inputs() lam(%l: f32) {
  delta.yield %l, %l, %l, %l : f32, f32, f32, f32
}

// -----

// expected-error @+1 {{tableau needs a weight vector b with at least one stage}}
delta.ode @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) integrator<tableau a = [], b = []> inputs() lam(%l: f32) {
  delta.yield %l, %l, %l, %l : f32, f32, f32, f32
}

// -----

delta.recurrence @x dims(8, 8) dtype(bf16) key_norm(none) scale(1.0) inputs() lam(%l: f32) {
  %one = arith.constant 1.0 : f64
  // expected-error @+1 {{value 'a' must have the compute type 'f32', got 'f64'}}
  delta.yield %l, %one, %l : f32, f64, f32
}

// -----

func.func @f(%x: f32) {
  // expected-error @+1 {{expects parent op to be one of 'delta.ode, delta.recurrence'}}
  delta.yield %x : f32
  return
}
