//===- Sequential.cpp - delta.recurrence -> token-by-token scan -----------===//
#include "KernelBuilder.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace deltac {

#define GEN_PASS_DEF_DELTASEQUENTIAL
#include "deltac/Transforms/Passes.h.inc"

namespace {

void buildSequential(delta::RecurrenceOp rec) {
  KernelBuilder kb(rec, "sequential");
  const int64_t K = kb.K(), V = kb.V();
  Value S = kb.scratch({K, V}), kbuf = kb.scratch({1, K}), qbuf = kb.scratch({1, K});
  Value kS = kb.scratch({V});
  Value zero = kb.idx(0), Kn = kb.idx(K), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  kb.initState(S);
  kb.loop(zero, kb.len(), 1, [&](Value t) {
    Value row = kb.tokenRow(t);
    Value lam = kb.loadKeyQuery(row, kbuf, qbuf, zero);
    TokenCoefficients co = kb.coefficients(row, lam);
    // kS = S^T k
    kb.loop(zero, Vn, 1, [&](Value j) { kb.store(fzero, kS, j); });
    kb.loop(zero, Kn, 1, [&](Value d) {
      Value kd = kb.load(kbuf, {zero, d});
      kb.loop(zero, Vn, 1, [&](Value j) {
        kb.store(kb.add(kb.load(kS, j), kb.mul(kd, kb.load(S, {d, j}))), kS, j);
      });
    });
    // S = g (S - a k kS^T) + b k v^T
    Value vbase = kb.imul(row, Vn);
    kb.loop(zero, Kn, 1, [&](Value d) {
      Value kd = kb.load(kbuf, {zero, d});
      Value akd = kb.mul(co.a, kd), bkd = kb.mul(co.b, kd);
      kb.loop(zero, Vn, 1, [&](Value j) {
        Value s = kb.sub(kb.load(S, {d, j}), kb.mul(akd, kb.load(kS, j)));
        Value w = kb.mul(bkd, kb.load(kb.v(), kb.iadd(vbase, j)));
        kb.store(kb.add(kb.mul(co.g, s), w), S, {d, j});
      });
    });
    // o = scale S^T q
    kb.loop(zero, Vn, 1, [&](Value j) { kb.store(fzero, kS, j); });
    kb.loop(zero, Kn, 1, [&](Value d) {
      Value qd = kb.load(qbuf, {zero, d});
      kb.loop(zero, Vn, 1, [&](Value j) {
        kb.store(kb.add(kb.load(kS, j), kb.mul(qd, kb.load(S, {d, j}))), kS, j);
      });
    });
    kb.loop(zero, Vn, 1, [&](Value j) {
      kb.store(kb.mul(scale, kb.load(kS, j)), kb.o(), kb.iadd(vbase, j));
    });
  });
  kb.storeState(S);
  kb.finish();
}

struct SequentialPass : impl::DeltaSequentialBase<SequentialPass> {
  void runOnOperation() override {
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs)
      buildSequential(rec);
  }
};

} // namespace
} // namespace deltac
