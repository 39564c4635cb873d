//===- ChunkedSolve.cpp - the blocked solve in registers, transposed ------===//
//
// X = (I + L)^{-1} R for a chunk's C x cols right-hand sides R = diag(s) Y,
// by 16-column strips, one warp a strip, computed as X^T = R^T (I + L)^{-T}
// so that the right-hand sides and their partial sums stay in the warp's
// registers (no f32 copy of R in shared memory, no round trip per block):
//
//   acc_r^T = R_r^T + sum_{k < r} X_k^T Lh_rk^T          (f16 mma, Lh = -L)
//   X_r^T   = acc_r^T Inv_r^T                            (3 x tf32 mma)
//
// with rows of the strip's columns (M = 16) and the chunk's rows as the
// products' columns. An accumulator's pairs (row g, columns 2t, 2t + 1) are
// then what the next product wants:
//  - R_r^T is read from Y by one ldmatrix.trans (Y 16-bit; the m16n8k16 A
//    layout is the accumulators of two n8 tiles side by side) and scaled in
//    f32;
//  - in f32, acc_r^T is the A operand of the tf32 products once their
//    eight-deep sums are taken in the order 0, 2, 4, 6, 1, 3, 5, 7 (A's
//    columns t, t + 4 = the accumulator's 2t, 2t + 1), Inv's rows read in
//    the same order (a sum does not depend on its order of terms).
// X_r leaves as f16 to `out`, element by element, and the later blocks read
// X_r^T back from there by ldmatrix.trans (the same f16 values; keeping them
// in registers instead cost 22 more registers at 64 columns for no gain at
// 128 or 256). The strips need no barrier between them.
//
//===----------------------------------------------------------------------===//
#include "ChunkedGpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

static int64_t stripCount(ArrayRef<Chunked::Solve> solves) {
  int64_t n = 0;
  for (const Chunked::Solve &s : solves)
    n += s.cols / 16;
  return n;
}

int64_t Chunked::solveWarps(ArrayRef<Solve> solves) { return std::min<int64_t>(kWarps, stripCount(solves)); }

void Chunked::solveTransposed(Mat Lh, Mat Tinv, ArrayRef<Solve> solves) {
  auto c2 = VectorType::get({2, 2}, f32);
  auto ta = VectorType::get({4, 1}, f32), tb = VectorType::get({2, 1}, f32), f32x2 = VectorType::get({2}, f32);
  // One strip: solve s's columns j0 .. j0 + 15.
  struct Strip {
    const Solve *s;
    Value j0;
  };
  auto strips = [&](ArrayRef<Strip> ss) {
    Lane ln = lane();
    Value g = ln.g, t2 = ln.t2;
    const size_t ns = ss.size();
    for (int64_t r = 0; r < kChunk / 16; ++r) {
      const int64_t r0 = 16 * r;
      // The row scales of the lane's chunk rows r0 + 8 h + 2t + c, shared
      // by strips of one solve.
      auto scales = [&](const Solve &s) {
        SmallVector<Value, 4> sc;
        for (int64_t h = 0; h < 2; ++h)
          for (int64_t c = 0; c < 2; ++c)
            sc.push_back(s.rowScale(kb.iadd(kb.idx(r0 + 8 * h + c), t2)));
        return sc;
      };
      // acc[h] (columns 8h .. of block r) = R_r^T.
      SmallVector<Acc> accs;
      const Solve *scaled = nullptr;
      SmallVector<Value, 4> sc;
      for (const Strip &st : ss) {
        const Solve &s = *st.s;
        if (scaled != &s)
          sc = scales(s), scaled = &s;
        Acc acc;
        if (s.stored.isF32()) {
          // Element (strip column g + 8 rr, chunk row r0 + 8 h + 2t + c).
          for (int64_t h = 0; h < 2; ++h) {
            SmallVector<Value, 4> e;
            for (int64_t rr = 0; rr < 2; ++rr)
              for (int64_t c = 0; c < 2; ++c)
                e.push_back(kb.mul(sc[2 * h + c], kb.load(s.src.mem, {kb.iadd(kb.idx(r0 + 8 * h + c), t2),
                                                                      kb.iadd(st.j0, kb.iadd(g, kb.idx(8 * rr)))})));
            acc[h] = vector::FromElementsOp::create(b, l, c2, e);
          }
        } else {
          // Y's 16 x 16 block read as the A fragment of its transpose, whose
          // pieces are the accumulators': piece 2h + rr = (row g + 8 rr,
          // columns 8h + 2t, + 1).
          Value y = fragmentA(ln, T(s.src), st.j0, kb.idx(r0));
          // X_r goes where Y's block was: every lane's part of it read first.
          if (s.out.mem == s.src.mem)
            syncWarp();
          for (int64_t h = 0; h < 2; ++h) {
            SmallVector<Value, 4> e;
            for (int64_t rr = 0; rr < 2; ++rr) {
              Value p = vector::ExtractOp::create(b, l, y, ArrayRef<int64_t>{2 * h + rr});
              if (s.stored.isBF16())
                p = vector::BitCastOp::create(b, l, VectorType::get({2}, s.stored), p);
              p = arith::ExtFOp::create(b, l, f32x2, p);
              for (int64_t c = 0; c < 2; ++c)
                e.push_back(kb.mul(sc[2 * h + c], vector::ExtractOp::create(b, l, p, ArrayRef<int64_t>{c})));
            }
            acc[h] = vector::FromElementsOp::create(b, l, c2, e);
          }
        }
        accs.push_back(acc);
      }
      // acc += X_k^T Lh_rk^T: X_k^T's A fragment read back from out (one
      // ldmatrix.trans), Lh's rows r0 .. as B's columns (one ldmatrix for
      // both column tiles, shared by the strips).
      for (int64_t k = 0; k < r; ++k) {
        Value lq = fragmentB(ln, T(Lh), kb.idx(r0), kb.idx(16 * k));
        for (size_t x = 0; x < ns; ++x) {
          Value xk = fragmentA(ln, T(ss[x].s->out), ss[x].j0, kb.idx(16 * k));
          for (int64_t h = 0; h < 2; ++h) {
            Value bh = vector::ShuffleOp::create(b, l, lq, lq, ArrayRef<int64_t>{2 * h, 2 * h + 1});
            accs[x][h] = nvgpu::MmaSyncOp::create(b, l, xk, bh, accs[x][h], ArrayRef<int64_t>{16, 8, 16});
          }
        }
      }
      // X_r^T = acc^T Inv_r^T in three tf32 products (lo hi, hi lo, hi hi):
      // the eight-deep step kk takes acc[kk] as A (columns in the order
      // above) and Inv's columns 8 kk + 2t, + 1 of its rows 8h + g as B.
      SmallVector<Acc> xs(ns, Acc{zeroAcc(), zeroAcc()});
      for (int64_t kk = 0; kk < 2; ++kk) {
        std::array<Value, 2> bhi, blo;
        for (int64_t h = 0; h < 2; ++h) {
          Value inv = vector::LoadOp::create(b, l, f32x2, Tinv.mem,
                                             ValueRange{kb.iadd(kb.idx(r0 + 8 * h), g), kb.iadd(kb.idx(8 * kk), t2)},
                                             false, llvm::MaybeAlign(8));
          SmallVector<Value, 2> hi, lo;
          for (int64_t c = 0; c < 2; ++c) {
            auto [x, y] = splitTf32(vector::ExtractOp::create(b, l, inv, ArrayRef<int64_t>{c}));
            hi.push_back(x), lo.push_back(y);
          }
          bhi[h] = vector::FromElementsOp::create(b, l, tb, hi);
          blo[h] = vector::FromElementsOp::create(b, l, tb, lo);
        }
        for (size_t x = 0; x < ns; ++x) {
          // a0 = (g, 2t), a1 = (g + 8, 2t), a2 = (g, 2t + 1), a3 = (g + 8, 2t + 1).
          SmallVector<Value, 4> hi, lo;
          for (auto [rr, c] : {std::pair{0, 0}, {1, 0}, {0, 1}, {1, 1}}) {
            auto [p, q] = splitTf32(vector::ExtractOp::create(b, l, accs[x][kk], ArrayRef<int64_t>{rr, c}));
            hi.push_back(p), lo.push_back(q);
          }
          Value Ah = vector::FromElementsOp::create(b, l, ta, hi), Al = vector::FromElementsOp::create(b, l, ta, lo);
          for (int64_t h = 0; h < 2; ++h) {
            xs[x][h] = nvgpu::MmaSyncOp::create(b, l, Al, bhi[h], xs[x][h], ArrayRef<int64_t>{16, 8, 8}, true);
            xs[x][h] = nvgpu::MmaSyncOp::create(b, l, Ah, blo[h], xs[x][h], ArrayRef<int64_t>{16, 8, 8}, true);
            xs[x][h] = nvgpu::MmaSyncOp::create(b, l, Ah, bhi[h], xs[x][h], ArrayRef<int64_t>{16, 8, 8}, true);
          }
        }
      }
      // Out as f16: X[r0 + 8h + 2t + c][j0 + g + 8 rr], every lane's stores
      // before the later blocks read it back.
      for (size_t x = 0; x < ns; ++x)
        for (int64_t h = 0; h < 2; ++h) {
          Value h16 = arith::TruncFOp::create(b, l, VectorType::get({2, 2}, f16), xs[x][h]);
          for (int64_t rr = 0; rr < 2; ++rr)
            for (int64_t c = 0; c < 2; ++c)
              kb.store(vector::ExtractOp::create(b, l, h16, ArrayRef<int64_t>{rr, c}), ss[x].s->out.mem,
                       {kb.iadd(kb.idx(r0 + 8 * h + c), t2), kb.iadd(ss[x].j0, kb.iadd(g, kb.idx(8 * rr)))});
        }
      syncWarp();
    }
  };

  // The strips: each solve's in turn on the next warps (one copy of the
  // code a solve); where two solves have as many strips as there are warps
  // each, warp w takes strip w of both side by side (their chains overlap
  // and share Lh's fragments and the inverses); else a loop a solve.
  if (stripCount(solves) <= kWarps) {
    int64_t w0 = 0;
    for (const Solve &s : solves) {
      const int64_t n = s.cols / 16;
      Value w = arith::SubIOp::create(b, l, warp, kb.idx(w0));
      // Unsigned: warps below w0 wrap around to large numbers.
      when(lt(w, kb.idx(n)), [&] { strips({Strip{&s, kb.imul(w, kb.idx(16))}}); });
      w0 += n;
    }
  } else if (solves.size() == 2 && solves[0].cols == 16 * kWarps && solves[1].cols == 16 * kWarps) {
    Value j0 = kb.imul(warp, kb.idx(16));
    strips({Strip{&solves[0], j0}, Strip{&solves[1], j0}});
  } else {
    for (const Solve &s : solves)
      kb.loop(warp, kb.idx(s.cols / 16), kWarps, [&](Value w) { strips({Strip{&s, kb.imul(w, kb.idx(16))}}); });
  }
}

} // namespace deltac
