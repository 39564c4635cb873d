//===- ToGPU.cpp - delta.recurrence -> GPU kernel -------------------------===//
#include "KernelBuilder.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;

namespace deltac {

#define GEN_PASS_DEF_DELTATOGPU
#include "deltac/Transforms/Passes.h.inc"

namespace {

void buildGpuKernel(delta::RecurrenceOp rec, int64_t tile, Type io) {
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-sequential", "", io);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  const int64_t K = kb.K(), V = kb.V();
  int64_t VT = std::min(tile, V);
  kb.function()->setAttr("delta.block_size", b.getI64IntegerAttr(VT));
  kb.function()->setAttr("delta.value_tile", b.getI64IntegerAttr(VT));
  Value zero = kb.idx(0), Kn = kb.idx(K), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  Value tid = gpu::ThreadIdOp::create(b, l, gpu::Dimension::x);
  Value tileIdx = gpu::BlockIdOp::create(b, l, gpu::Dimension::y);
  Value j = kb.iadd(kb.imul(tileIdx, kb.idx(VT)), tid);
  Value inRange = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, j, Vn);
  auto ifOp = scf::IfOp::create(b, l, inRange, /*withElseRegion=*/false);
  b.setInsertionPointToStart(ifOp.thenBlock());
  // This thread's column of S, and the token's key and query.
  Value col = kb.scratch({K});
  Value kbuf = kb.scratch({1, K}), qbuf = kb.scratch({1, K});
  Value use = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, kb.useH0(), zero);
  kb.loop(zero, Kn, 1, [&](Value d) {
    Value at = kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), j));
    auto init = scf::IfOp::create(b, l, TypeRange{b.getF32Type()}, use, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(init.thenBlock());
      scf::YieldOp::create(b, l, kb.load(kb.h0(), at));
      b.setInsertionPointToStart(init.elseBlock());
      scf::YieldOp::create(b, l, fzero);
    }
    kb.store(init.getResult(0), col, d);
  });
  kb.loop(zero, kb.len(), 1, [&](Value t) {
    Value row = kb.tokenRow(t);
    Value lam = kb.loadKeyQuery(row, kbuf, qbuf, zero);
    TokenCoefficients co = kb.coefficients(row, lam);
    Value kS = kb.reduce(zero, Kn, fzero, [&](Value d, Value acc) {
      return kb.add(acc, kb.mul(kb.load(kbuf, {zero, d}), kb.load(col, d)));
    });
    Value vj = kb.loadIO(kb.v(), kb.iadd(kb.imul(row, Vn), j));
    Value akS = kb.mul(co.a, kS), bv = kb.mul(co.b, vj);
    Value oj = kb.reduce(zero, Kn, fzero, [&](Value d, Value acc) {
      Value kd = kb.load(kbuf, {zero, d});
      // S = g (S - a k kS) + b k v
      Value s = kb.add(kb.mul(co.g, kb.sub(kb.load(col, d), kb.mul(akS, kd))), kb.mul(bv, kd));
      kb.store(s, col, d);
      return kb.add(acc, kb.mul(s, kb.load(qbuf, {zero, d})));
    });
    kb.storeIO(kb.mul(scale, oj), kb.o(), kb.iadd(kb.imul(row, Vn), j));
  });
  kb.loop(zero, Kn, 1, [&](Value d) {
    kb.store(kb.load(col, d), kb.ht(), kb.iadd(kb.state(), kb.iadd(kb.imul(d, Vn), j)));
  });
  b.setInsertionPointAfter(ifOp);
  kb.finish();
}

struct ToGPUPass : impl::DeltaToGPUBase<ToGPUPass> {
  using DeltaToGPUBase::DeltaToGPUBase;
  void runOnOperation() override {
    if (valueTile < 1 || valueTile > 1024) {
      getOperation().emitError("value tile must be 1..1024, got ")
          << static_cast<int64_t>(valueTile);
      return signalPassFailure();
    }
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs) {
      Type io = ioStorageType(rec, storage);
      if (!io)
        return signalPassFailure();
      buildGpuKernel(rec, valueTile, io);
    }
  }
};

} // namespace
} // namespace deltac
