//===- Chunk.cpp - delta.recurrence -> chunkwise-parallel scan ------------===//
#include "KernelBuilder.h"
#include "deltac/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;

namespace deltac {

#define GEN_PASS_DEF_DELTACHUNK
#include "deltac/Transforms/Passes.h.inc"

int64_t defaultChunkSize(int64_t keyDim, int64_t valueDim) {
  // The per-chunk scratch (K, Q: C x K; V, KS, QS, Delta: C x V; L, QK: C x C)
  // should stay in a core's L2 (~1 MiB) next to the state (K x V).
  int64_t c = 64;
  while (c > 16 && 4 * (2 * c * keyDim + 4 * c * valueDim + 2 * c * c + keyDim * valueDim) > (1 << 20))
    c /= 2;
  return c;
}

namespace {

void buildChunked(delta::RecurrenceOp rec, int64_t C) {
  KernelBuilder kb(rec, "chunked");
  kb.function()->setAttr("delta.chunk_size", kb.builder().getI64IntegerAttr(C));
  const int64_t K = kb.K(), V = kb.V();
  bool gated = !kb.ungated();
  Value S = kb.scratch({K, V});
  Value Kc = kb.scratch({C, K}), Qc = kb.scratch({C, K}), Vc = kb.scratch({C, V});
  Value A = kb.scratch({C}), Bc = kb.scratch({C}), LG = kb.scratch({C});
  Value L = kb.scratch({C, C}), QK = kb.scratch({C, C});
  Value KS = kb.scratch({C, V}), QS = kb.scratch({C, V}), D = kb.scratch({C, V});
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  Value zero = kb.idx(0), one = kb.idx(1), Kn = kb.idx(K), Vn = kb.idx(V);
  Value fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  kb.initState(S);

  kb.loop(zero, kb.len(), C, [&](Value c0) {
    Value n = arith::MinSIOp::create(b, l, kb.idx(C), arith::SubIOp::create(b, l, kb.len(), c0));
    // Prologue: keys, queries, values, lam and (g, a, b) per token; cumulative log G.
    Value total = kb.reduce(zero, n, fzero, [&](Value i, Value cum) {
      Value row = kb.tokenRow(kb.iadd(c0, i));
      Value lam = kb.loadKeyQuery(row, Kc, Qc, i);
      Value vbase = kb.imul(row, Vn);
      kb.loop(zero, Vn, 1, [&](Value j) { kb.store(kb.load(kb.v(), kb.iadd(vbase, j)), Vc, {i, j}); });
      TokenCoefficients co = kb.coefficients(row, lam);
      kb.store(co.a, A, i);
      kb.store(co.b, Bc, i);
      Value next = gated ? kb.add(cum, math::LogOp::create(b, l, co.g)) : cum;
      kb.store(next, LG, i);
      return next;
    });
    // L = diag(a) (Gamma o StrictTril(K K^T)), QK = Gamma o Tril(Q K^T).
    kb.loop(zero, n, 1, [&](Value i) {
      Value ip1 = kb.iadd(i, one);
      kb.loop(zero, ip1, 1, [&](Value j) {
        Value kk = kb.reduce(zero, Kn, fzero, [&](Value d, Value acc) {
          return kb.add(acc, kb.mul(kb.load(Kc, {i, d}), kb.load(Kc, {j, d})));
        });
        Value qk = kb.reduce(zero, Kn, fzero, [&](Value d, Value acc) {
          return kb.add(acc, kb.mul(kb.load(Qc, {i, d}), kb.load(Kc, {j, d})));
        });
        if (gated) {
          Value ratio = kb.exp(kb.sub(kb.load(LG, i), kb.load(LG, j)));
          kk = kb.mul(kk, ratio);
          qk = kb.mul(qk, ratio);
        }
        kb.store(kb.mul(kb.load(A, i), kk), L, {i, j});
        kb.store(qk, QK, {i, j});
      });
    });
    // KS = K S0, QS = Q S0.
    kb.loop(zero, n, 1, [&](Value i) {
      kb.loop(zero, Vn, 1, [&](Value j) {
        kb.store(fzero, KS, {i, j});
        kb.store(fzero, QS, {i, j});
      });
      kb.loop(zero, Kn, 1, [&](Value d) {
        Value kd = kb.load(Kc, {i, d}), qd = kb.load(Qc, {i, d});
        kb.loop(zero, Vn, 1, [&](Value j) {
          Value s = kb.load(S, {d, j});
          kb.store(kb.add(kb.load(KS, {i, j}), kb.mul(kd, s)), KS, {i, j});
          kb.store(kb.add(kb.load(QS, {i, j}), kb.mul(qd, s)), QS, {i, j});
        });
      });
    });
    // Delta = (I + L)^{-1} (diag(b) V - diag(a G) K S0), by forward substitution.
    kb.loop(zero, n, 1, [&](Value i) {
      Value ai = kb.load(A, i);
      if (gated)
        ai = kb.mul(ai, kb.exp(kb.load(LG, i)));
      Value bi = kb.load(Bc, i);
      kb.loop(zero, Vn, 1, [&](Value j) {
        kb.store(kb.sub(kb.mul(bi, kb.load(Vc, {i, j})), kb.mul(ai, kb.load(KS, {i, j}))), D, {i, j});
      });
      kb.loop(zero, i, 1, [&](Value jj) {
        Value lij = kb.load(L, {i, jj});
        kb.loop(zero, Vn, 1, [&](Value j) {
          kb.store(kb.sub(kb.load(D, {i, j}), kb.mul(lij, kb.load(D, {jj, j}))), D, {i, j});
        });
      });
    });
    // O = scale (diag(G) Q S0 + QK Delta).
    kb.loop(zero, n, 1, [&](Value i) {
      if (gated) {
        Value gi = kb.exp(kb.load(LG, i));
        kb.loop(zero, Vn, 1, [&](Value j) { kb.store(kb.mul(gi, kb.load(QS, {i, j})), QS, {i, j}); });
      }
      kb.loop(zero, kb.iadd(i, one), 1, [&](Value jj) {
        Value qk = kb.load(QK, {i, jj});
        kb.loop(zero, Vn, 1, [&](Value j) {
          kb.store(kb.add(kb.load(QS, {i, j}), kb.mul(qk, kb.load(D, {jj, j}))), QS, {i, j});
        });
      });
      Value obase = kb.imul(kb.tokenRow(kb.iadd(c0, i)), Vn);
      kb.loop(zero, Vn, 1, [&](Value j) {
        kb.store(kb.mul(scale, kb.load(QS, {i, j})), kb.o(), kb.iadd(obase, j));
      });
    });
    // S = G_C S0 + K^T diag(G_C / G) Delta.
    if (gated) {
      Value gc = kb.exp(total);
      kb.loop(zero, Kn, 1, [&](Value d) {
        kb.loop(zero, Vn, 1, [&](Value j) { kb.store(kb.mul(gc, kb.load(S, {d, j})), S, {d, j}); });
      });
    }
    kb.loop(zero, n, 1, [&](Value i) {
      Value w = gated ? kb.exp(kb.sub(total, kb.load(LG, i))) : Value();
      kb.loop(zero, Kn, 1, [&](Value d) {
        Value kd = kb.load(Kc, {i, d});
        if (w)
          kd = kb.mul(kd, w);
        kb.loop(zero, Vn, 1, [&](Value j) {
          kb.store(kb.add(kb.load(S, {d, j}), kb.mul(kd, kb.load(D, {i, j}))), S, {d, j});
        });
      });
    });
  });
  kb.storeState(S);
  kb.finish();
}

struct ChunkPass : impl::DeltaChunkBase<ChunkPass> {
  using DeltaChunkBase::DeltaChunkBase;
  void runOnOperation() override {
    if (chunkSize != 0 && chunkSize != 16 && chunkSize != 32 && chunkSize != 64 && chunkSize != 128) {
      getOperation().emitError("chunk size must be 16, 32, 64 or 128, got ")
          << static_cast<int64_t>(chunkSize);
      return signalPassFailure();
    }
    SmallVector<delta::RecurrenceOp> recs(getOperation().getOps<delta::RecurrenceOp>());
    for (delta::RecurrenceOp rec : recs)
      buildChunked(rec, chunkSize ? chunkSize : defaultChunkSize(rec.getKeyDim(), rec.getValueDim()));
  }
};

} // namespace
} // namespace deltac
