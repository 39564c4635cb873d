//===- DeltaOps.td - operations of the delta dialect ----------------------===//
#ifndef DELTA_OPS_TD
#define DELTA_OPS_TD

include "Delta/DeltaBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

class Delta_Op<string mnemonic, list<Trait> traits = []>
    : Op<Delta_Dialect, mnemonic, traits>;

// Attributes shared by both levels: the shapes, storage and read-out.
defvar Delta_CommonArgs = (ins
  SymbolNameAttr:$sym_name,
  ConfinedAttr<I64Attr, [IntPositive]>:$key_dim,
  ConfinedAttr<I64Attr, [IntPositive]>:$value_dim,
  TypeAttr:$storage_type,
  Delta_KeyNormAttr:$key_norm,
  F64Attr:$scale,
  StrArrayAttr:$input_names
);

def Delta_OdeOp : Delta_Op<"ode", [Symbol, IsolatedFromAbove, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>]> {
  let summary = "a recurrence in continuous form: a per-token linear matrix ODE";
  let description = [{
    For each token, the state S (K x V, f32) follows

        dS/dt = -(gam I + c k k^T) S + d k v^T

    over one step of length h, integrated by `integrator`. The body computes
    the token's scalars from its inputs: its block arguments are the per-token
    inputs named by `input_names`, then `lam` = ||k||^2 (after key
    normalisation); it yields (h, gam, c, d). The read-out is
    o = scale * S^T q.

        delta.ode @efla dims(128, 128) dtype(bf16) key_norm(none)
            scale(0.088388347648311) integrator<exact>
            inputs(%beta: f32) lam(%lam: f32) {
          %zero = arith.constant 0.0 : f32
          %one = arith.constant 1.0 : f32
          delta.yield %beta, %zero, %one, %one : f32, f32, f32, f32
        }
  }];
  let arguments = !con(Delta_CommonArgs, (ins Delta_IntegratorAttr:$integrator));
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// The per-token scalar inputs, in order, then lam.
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    ::mlir::BlockArgument getLam() { return getBodyBlock().getArguments().back(); }
    ::mlir::Type getComputeType() { return getLam().getType(); }
    static constexpr unsigned kNumYields = 4;
  }];
}

def Delta_RecurrenceOp : Delta_Op<"recurrence", [Symbol, IsolatedFromAbove, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>]> {
  let summary = "a recurrence in discrete canonical form";
  let description = [{
    For each token t:

        S_t = g_t (S_{t-1} - a_t k_t (k_t^T S_{t-1})) + b_t k_t v_t^T
        o_t = scale * S_t^T q_t

    The body computes (g, a, b) from the token's inputs (block arguments named
    by `input_names`) and lam = ||k||^2 (the last block argument) and yields
    them in that order.

        delta.recurrence @gated_deltanet dims(128, 128) dtype(bf16)
            key_norm(l2) scale(0.088388347648311)
            inputs(%beta: f32, %g: f32) lam(%lam: f32) {
          %decay = math.exp %g : f32
          delta.yield %decay, %beta, %beta : f32, f32, f32
        }
  }];
  let arguments = Delta_CommonArgs;
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    ::mlir::BlockArgument getLam() { return getBodyBlock().getArguments().back(); }
    ::mlir::Type getComputeType() { return getLam().getType(); }
    static constexpr unsigned kNumYields = 3;
  }];
}

def Delta_YieldOp : Delta_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["OdeOp", "RecurrenceOp"]>]> {
  let summary = "yields a token's scalar coefficients";
  let description = [{
    Ends the body of `delta.ode` (yielding h, gam, c, d) or of
    `delta.recurrence` (yielding g, a, b).
  }];
  let arguments = (ins Variadic<AnyFloat>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // DELTA_OPS_TD
