//===- SplitWorkspace.h - the split schedule's workspace --------*- C++ -*-===//
//
// The workspace the split schedule's first kernel writes and its scans read
// (ToGPUSplit.cpp, ToGPUSplitWarpgroup.cpp), and the copies of a chunk's rows.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_LIB_TRANSFORMS_SPLITWORKSPACE_H
#define DELTAC_LIB_TRANSFORMS_SPLITWORKSPACE_H

#include "ChunkedGpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

#include <string>

namespace deltac {

/// The workspace: per field a block of rows of `stride` f16, one row per
/// (head, token), head-major (row h * T + t, T token rows per head): a
/// chunk's rows of a field are one contiguous piece of 16-byte aligned rows
/// (U kept per value tile, so that a tile's rows are contiguous too):
///   W, Q, K   K each (K + 8 for W when gated: its pad holds log G as an
///             f32, which the scan fetches with W)
///   QK        C
///   U         V / UT tiles one after the other, each UT wide (UT: the
///             larger scan tile; the smaller scan reads part of a tile)
/// At K = 128, W (ungated), Q, K and QK are stored row-swizzled (the
/// 16-byte piece j of token t's row at j xor (t mod 8), Chunked::Mat): the
/// scan copies a chunk's rows as they are into shared memory, where that
/// layout keeps ldmatrix free of bank conflicts without pads, so that no
/// pad bytes are written, read back or multicast (5% less workspace, 8 KB
/// less shared memory in the scan with double buffers). Measured against
/// the padded rows: B2 T16384 H16 D128 (split_small) -1..2.5%, B1 T32768
/// gated DeltaNet -1..1.6%, B1 EFLA, DeltaNet and RK4 +-0.5%. Elsewhere the
/// rows keep 8 f16 of pad, the scans' shared-memory rows: at K = 256 the
/// swizzled addresses cost registers (ptxas spilled 12 bytes in the tile-64
/// scan, B2 T16384 D256 EFLA +0.5..1.3%), and at K = 64 the prep stores a
/// chunk's rows as one flat piece.
/// With `inBlocks`, the row-swizzled W, Q and K are stored in blocks of 64
/// columns (two at K = 128, four at K = 256, where the rows are then
/// row-swizzled too): the block of the field is columns 0-63 of every row,
/// then columns 64-127, and so on, so that a chunk's rows of a block are one
/// contiguous piece of 128-byte rows: as they are, wgmma's 128-byte swizzled
/// slab of 64 rows, which bulk copies bring whole (the scans' sm_90 forms).
/// At K = 256 in blocks (`thin`: the scan on warpgroups, which forms
/// Delta = T (diag(b) V - diag(a) K S) from the chunk's keys and values
/// itself) the workspace holds no W and no U: in W's place the chunk's
///   T         (I + L)^{-1}, C columns (row-swizzled, one block)
/// and after QK
///   AB        the token's a and b as two f32 (8 f16 a row, the rest pad)
/// so that the first kernel neither reads v nor solves for K + V columns.
struct Workspace {
  int64_t K, V, UT;
  bool gated = false;
  /// W, Q and K in blocks of 64 columns where row-swizzled (the sm_90a
  /// twins of the kernels of bundles with the scan on warpgroups; elsewhere
  /// whole rows: measured, the mma.sync scans reading slabs are 2-4% slower
  /// at K = 128, 16% at K = 256).
  bool inBlocks = false;
  /// T and AB in place of W and U (K = 256 in blocks, ungated).
  bool thin = false;
  static Workspace of(delta::RecurrenceOp rec, int64_t UT, bool inBlocks = false) {
    const bool gated = !KernelBuilder::isUngated(rec);
    return {int64_t(rec.getKeyDim()),
            int64_t(rec.getValueDim()),
            UT,
            gated,
            inBlocks,
            inBlocks && rec.getKeyDim() == 256 && !gated};
  }
  enum Field { W, Q, K_, QK, U, AB, T = W };
  /// Whether field f's rows are row-swizzled.
  bool swizzled(Field f) const {
    return (K == 128 || (K == 256 && inBlocks)) && f != U && f != AB && !(f == W && gated);
  }
  /// Whether field f is stored in blocks of 64 columns (K / 64 of them).
  bool blocked(Field f) const { return inBlocks && swizzled(f) && f != QK && !(thin && f == T); }
  /// Field f's blocks of 64 columns: K / 64 where blocked(f), else 1.
  int64_t blocks(Field f) const { return blocked(f) ? K / 64 : 1; }
  /// The layout in words, for --explain-schedule.
  std::string describe() const {
    if (thin)
      return std::to_string(perRow()) + " f16 per token row: T = (I + L)^{-1} (" + std::to_string(kChunk) +
             "), queries, keys (" + std::to_string(K) + " each), QK (" + std::to_string(kChunk) +
             "), a and b (two f32 in 8 f16); each field's rows head-major, a chunk's rows one contiguous piece; rows "
             "without pads, row-swizzled, queries and keys in " +
             std::to_string(K / 64) + " blocks of 64 columns (all rows of one, then of the next)";
    std::string w = gated ? "W (log G in its row's pad)" : "W";
    return std::to_string(perRow()) + " f16 per token row: " + w + ", queries, keys (" + std::to_string(K) +
           " each), QK (" + std::to_string(kChunk) + "), U by value tile (" + std::to_string(V / UT) + " of " +
           std::to_string(UT) + "); each field's rows head-major, a chunk's rows one contiguous piece; " +
           (swizzled(Q) ? std::string("rows without pads, row-swizzled") + (gated ? " (W's padded)" : "") +
                              (inBlocks ? std::string(", ") + (gated ? "queries and keys" : "W, queries and keys") +
                                              " in " + std::to_string(K / 64) +
                                              " blocks of 64 columns (all rows of one, then of the next)"
                                        : std::string())
                        : "rows padded by 8 f16 (U's not)");
  }
  int64_t stride(Field f) const {
    if (f == U)
      return UT;
    if (f == AB)
      return 8;
    return (f == QK || (thin && f == T) ? kChunk : K) + (swizzled(f) ? 0 : 8);
  }
  int64_t perRow() const { return stride(W) + stride(Q) + stride(K_) + stride(QK) + (thin ? stride(AB) : V); }
  /// Element offset of a field's block (for U, of value tile 0's; AB's
  /// where U's would be) in a workspace of R rows.
  int64_t prefix(Field f) const {
    int64_t at = 0;
    for (Field g : {W, Q, K_, QK}) {
      if (g == f)
        return at;
      at += stride(g);
    }
    return at;
  }
};

/// Where the workspace's rows are: R (the rows of k) and the row of the
/// pair's token t.
struct WorkRows {
  const Workspace &ws;
  mlir::Value R, perHead;
  WorkRows(Chunked &ck, const Workspace &ws) : ws(ws) {
    KernelBuilder &kb = ck.kb;
    R = ck.div(mlir::memref::DimOp::create(ck.b, ck.l, kb.k(), 0), ws.K);
    perHead = mlir::arith::DivUIOp::create(ck.b, ck.l, R, kb.nheads());
  }
  mlir::Value row(KernelBuilder &kb, mlir::Value t) const {
    return kb.iadd(kb.imul(kb.head(), perHead), kb.iadd(kb.bos(), t));
  }
  /// Element (row, col) of field f (col counted in the value tile `tile`'s
  /// columns for U).
  mlir::Value at(KernelBuilder &kb, Workspace::Field f, mlir::Value row, mlir::Value col, mlir::Value tile = {}) const {
    mlir::Value base = kb.imul(R, kb.idx(ws.prefix(f)));
    if (tile)
      base = kb.iadd(base, kb.imul(tile, kb.imul(R, kb.idx(ws.UT))));
    if (ws.blocked(f)) {
      mlir::Value block = mlir::arith::DivUIOp::create(kb.builder(), kb.loc(), col, kb.idx(64));
      mlir::Value in = mlir::arith::RemUIOp::create(kb.builder(), kb.loc(), col, kb.idx(64));
      base = kb.iadd(base, kb.imul(block, kb.imul(R, kb.idx(64))));
      return kb.iadd(base, kb.iadd(kb.imul(row, kb.idx(64)), in));
    }
    return kb.iadd(base, kb.iadd(kb.imul(row, kb.idx(ws.stride(f))), col));
  }
};

/// A split kernel's last step: its shared memory and the workspace's layout
/// as attributes (the bundle's manifest and --explain-schedule read them),
/// the function finished (the recurrence kept for the kernels after it).
inline BuiltKernel finishSplitKernel(KernelBuilder &kb, const Workspace &wsp, int64_t sharedBytes) {
  mlir::OpBuilder &b = kb.builder();
  kb.function()->setAttr("delta.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  kb.function()->setAttr("delta.workspace_f16_per_row", b.getI64IntegerAttr(wsp.perRow()));
  kb.function()->setAttr("delta.workspace_layout", b.getStringAttr(wsp.describe()));
  kb.finish(false);
  return {kb.function(), sharedBytes};
}

/// The threads that move a kernel's data: `count` of them, this one number
/// `id` among them (by default the whole block).
struct Movers {
  mlir::Value id;
  int64_t count = kThreads;
};

/// Per 16-byte piece e < C cols / width of a chunk's rows x `cols` block
/// (`width` elements a piece: 8 f16): body(row i, column of the piece);
/// rounds of one piece per mover, the last one guarded.
inline void forPieces(Chunked &ck, int64_t cols, const std::function<void(mlir::Value, mlir::Value)> &body,
                      int64_t width = 8, Movers mv = {}) {
  KernelBuilder &kb = ck.kb;
  const int64_t per = cols / width, pieces = kChunk * per;
  mlir::Value id = mv.id ? mv.id : ck.tid;
  for (int64_t m = 0; m < pieces; m += mv.count) {
    auto one = [&] {
      mlir::Value e = kb.iadd(id, kb.idx(m));
      body(ck.div(e, per), kb.imul(ck.rem(e, per), kb.idx(width)));
    };
    if (pieces - m >= mv.count)
      one();
    else
      ck.when(ck.lt(id, kb.idx(pieces - m)), one);
  }
}

/// cp.async of a chunk's rows x `cols` block of `src` into `to`, in 16-byte
/// pieces of `width` elements, the piece at chunk row i and column c from
/// element at(i, c); rows i >= n (n may be <= 0) zero-filled.
inline void copyRows(Chunked &ck, Chunked::Mat to, mlir::Value src, mlir::Value n, int64_t cols, int64_t width,
                     const std::function<mlir::Value(mlir::Value, mlir::Value)> &at, Movers mv = {}) {
  auto tokenTy = mlir::nvgpu::DeviceAsyncTokenType::get(ck.b.getContext());
  forPieces(
      ck, cols,
      [&](mlir::Value i, mlir::Value c) {
        mlir::Value live = mlir::arith::CmpIOp::create(ck.b, ck.l, mlir::arith::CmpIPredicate::slt, i, n);
        mlir::nvgpu::DeviceAsyncCopyOp::create(ck.b, ck.l, tokenTy, to.mem, mlir::ValueRange{i, c}, src,
                                               mlir::ValueRange{at(i, c)}, ck.b.getIndexAttr(width),
                                               ck.select(live, ck.kb.idx(width), ck.kb.idx(0)), ck.b.getUnitAttr());
      },
      width, mv);
}

/// The live rows of the pair's chunk at c0: min(C, len - c0) (<= 0 past
/// the end).
inline mlir::Value liveRows(Chunked &ck, mlir::Value c0) {
  return mlir::arith::MinSIOp::create(ck.b, ck.l, ck.kb.idx(kChunk),
                                      mlir::arith::SubIOp::create(ck.b, ck.l, ck.kb.len(), c0));
}

/// The token row of chunk row i (rows past the chunk's n live ones read the
/// last live row).
inline mlir::Value chunkRow(Chunked &ck, mlir::Value c0, mlir::Value i, mlir::Value n) {
  KernelBuilder &kb = ck.kb;
  return kb.tokenRow(
      kb.iadd(c0, mlir::arith::MinUIOp::create(ck.b, ck.l, i, mlir::arith::SubIOp::create(ck.b, ck.l, n, kb.idx(1)))));
}

} // namespace deltac

#endif
