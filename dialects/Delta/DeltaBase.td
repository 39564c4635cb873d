//===- DeltaBase.td - the delta dialect, its enums and attributes ---------===//
#ifndef DELTA_BASE_TD
#define DELTA_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Delta_Dialect : Dialect {
  let name = "delta";
  let cppNamespace = "::deltac::delta";
  let summary = "Recurrences of the delta-rule family";
  let description = [{
    The `delta` dialect describes the state update of the delta-rule family
    (DeltaNet, Gated DeltaNet, Longhorn, EFLA) at two levels:

    * `delta.ode`: the continuous form, a linear matrix ODE per token
      dS/dt = -(gam I + c k k^T) S + d k v^T held over a step h, with an
      integrator attribute;
    * `delta.recurrence`: the discrete canonical form
      S_t = g_t (S_{t-1} - a_t k_t (k_t^T S_{t-1})) + b_t k_t v_t^T.

    Both carry the read-out o = scale * S^T q.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def Delta_KeyNorm : I32EnumAttr<"KeyNorm", "normalisation applied to each key",
    [I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"l2", 1>]> {
  let cppNamespace = "::deltac::delta";
  let genSpecializedAttr = 0;
}
def Delta_KeyNormAttr : EnumAttr<Delta_Dialect, Delta_KeyNorm, "key_norm">;

def Delta_IntegratorAttr : AttrDef<Delta_Dialect, "Integrator"> {
  let mnemonic = "integrator";
  let summary = "the integrator applied to the per-token ODE";
  let description = [{
    Either a named method (`euler`, `backward_euler`, `trapezoid`, `midpoint`,
    `heun`, `ralston`, `ssprk3`, `rk3`, `rk4`, `rk1` ... `rk8`, `exact`) or a
    Butcher tableau with exact rational entries:

        #delta.integrator<rk4>
        #delta.integrator<tableau a = [[0, 0], [1/2, 0]], b = [0, 1], c = [0, 1/2]>
  }];
  // a: s x s entries, row-major; b, c: s entries. Each entry is an exact
  // rational stored as a (numerator, denominator) pair in lowest terms with a
  // positive denominator, so the printed IR round-trips exactly.
  let parameters = (ins
    StringRefParameter<"method name, or `tableau`">:$method,
    OptionalArrayRefParameter<"int64_t">:$a,
    OptionalArrayRefParameter<"int64_t">:$b,
    OptionalArrayRefParameter<"int64_t">:$c
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isTableau() const { return getMethod() == "tableau"; }
    /// Number of stages of a written tableau (0 for a named method).
    unsigned getNumStages() const { return getB().size() / 2; }
  }];
}

#endif // DELTA_BASE_TD
