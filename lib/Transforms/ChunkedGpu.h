//===- ChunkedGpu.h - pieces of the chunked GPU kernels ---------*- C++ -*-===//
//
// The chunked GPU kernels (MATH.md section 4) are built from the phases
// below: the prologue of a chunk (keys, queries, coefficients), the products
// on tensor cores with their epilogues, the diagonal inverses, the per-strip
// solve. Two schedules put them together:
//
//   phased     (ToGPUChunked.cpp) one phase after another, each behind a block
//              barrier, the state tile in shared memory;
//   pipelined  (ToGPUPipelined.cpp) the next chunk's state-independent phases
//              beside this chunk's state-dependent ones, operands double
//              buffered, the state tile in registers.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_LIB_TRANSFORMS_CHUNKEDGPU_H
#define DELTAC_LIB_TRANSFORMS_CHUNKEDGPU_H

#include "KernelBuilder.h"

#include <array>
#include <optional>
#include <utility>

namespace deltac {

inline constexpr int64_t kChunk = 64, kThreads = 512, kWarps = 16;
/// Dynamic shared memory one block may have on sm_90 (227 KiB).
inline constexpr int64_t kMaxSharedBytes = 232448;
/// Shared memory of an sm_90 SM (228 KiB), and what the hardware keeps of
/// it per resident block (1 KiB): blocks an SM holds by shared memory =
/// kSharedBytesPerSM / (block's bytes + kSharedBytesPerBlock).
inline constexpr int64_t kSharedBytesPerSM = 233472, kSharedBytesPerBlock = 1024;
/// Blocks of `sharedBytes` each that an SM holds by shared memory.
inline int64_t blocksPerSM(int64_t sharedBytes) { return kSharedBytesPerSM / (sharedBytes + kSharedBytesPerBlock); }
/// The ten 16 x 16 tiles (row, column in tiles) of a chunk's K K^T and Q K^T
/// on or below the diagonal (those above it are zero, never computed), in
/// the order the kernels deal them to warps: the diagonal ones third to
/// sixth (with eight warps from warp 8 on, to warps 10-13).
inline constexpr std::pair<int64_t, int64_t> kLowerTiles[] = {{1, 0}, {2, 0}, {0, 0}, {1, 1}, {2, 2},
                                                              {3, 3}, {3, 0}, {2, 1}, {3, 1}, {3, 2}};
static_assert(kChunk == 64, "four 16-row blocks");

struct Chunked {
  KernelBuilder &kb;
  mlir::OpBuilder &b;
  mlir::Location l;
  int64_t K, V;
  mlir::Value tid, warp;
  mlir::Type f16, f32;
  /// While set, matmuls pins each warp's tile number: the indices,
  /// addresses and comparisons of its products and epilogues are computed
  /// where they are used instead of once before the loop around (a register
  /// each for all of it).
  bool pinTiles = false;

  /// A matrix in shared memory; rows are padded (8 f16 or 4 f32 elements) so
  /// that the 16 rows a tensor-core fragment touches fall in different banks.
  struct Mat {
    mlir::Value mem;
    int64_t ld = 0;
    bool colMajor = false; // use as its transpose
    /// f16, cols a multiple of 64, in wgmma's 128-byte swizzled K-major
    /// layout (a flat memref): 64-column slabs one after the other, in each
    /// row r of a slab the 16-byte piece j of its 128 bytes at position
    /// j xor (r mod 8); the start 1024-byte aligned. Conflict-free for
    /// ldmatrix and for eight lanes storing eight pieces of one row.
    bool swizzled = false;
    /// 16-bit, cols a multiple of 64, rows without padding: in row r the
    /// 16-byte piece j at position j xor (r mod 8) (its group of eight
    /// pieces kept). Conflict-free for ldmatrix like the padded rows, and
    /// the layout of the split workspace's rows, which travel into it as
    /// they are (no pad bytes to copy).
    bool rowSwizzled = false;
  };
  static Mat T(Mat m) {
    m.colMajor = !m.colMajor;
    return m;
  }
  /// A padded rows x cols matrix (cols == 1: a vector) at `offset` bytes of
  /// `base` (advanced past it, 128-byte aligned); rows padded by 16 bytes,
  /// unless swizzled or row-swizzled (Mat).
  Mat view(mlir::Value base, int64_t &offset, int64_t rows, int64_t cols, mlir::Type elem, bool swizzled = false,
           bool rowSwizzled = false);
  /// Two such matrices one after the other; at(parity) views buffer 0 or 1.
  struct Twin {
    mlir::Value base;
    int64_t offset, bytes, rows, cols;
    mlir::Type elem;
    bool swizzled;
    bool rowSwizzled = false;
  };
  Twin twin(mlir::Value base, int64_t &offset, int64_t rows, int64_t cols, mlir::Type elem, bool swizzled = false,
            bool rowSwizzled = false);
  /// The bytes view() takes for such a matrix (unswizzled; row-swizzled).
  static int64_t paddedBytes(int64_t rows, int64_t cols, mlir::Type elem, bool rowSwizzled = false);
  /// The dynamic shared memory from its first 1024-byte boundary on (the
  /// caller asks for 1024 bytes more).
  mlir::Value alignShared(mlir::Value smem);
  Mat at(const Twin &t, mlir::Value parity);
  /// A rows x cols matrix of `elem` at the place of each buffer of t, when
  /// it fits there.
  std::optional<Twin> alias(const Twin &t, int64_t rows, int64_t cols, mlir::Type elem);
  /// The stored column of element (r, c) of a row-swizzled matrix (or of a
  /// workspace row in that layout; r mod 8 is what counts).
  mlir::Value rowSwizzle(mlir::Value r, mlir::Value c);
  /// The memref indices of stored element (r, c) of m.
  llvm::SmallVector<mlir::Value, 4> el(const Mat &m, mlir::Value r, mlir::Value c);

  /// The attributes both schedules set on the kernel (block size, value
  /// tile, variant, chunk size, schedule and its description), tid and warp;
  /// returns the base of the dynamic shared memory. Blocks of `threads`.
  mlir::Value begin(int64_t VT, llvm::StringRef variant, llvm::StringRef schedule, const std::string &detail,
                    int64_t threads = kThreads);

  /// The address (i64) of byte `shift` of the memref `mem`: a generic or
  /// global address, or a shared-window offset for workgroup memory.
  mlir::Value address(mlir::Value mem, mlir::Value shift);
  /// The address (i64) of element `index` of the 1-D buffer `mem`.
  mlir::Value elementAddress(mlir::Value mem, mlir::Value index);

  void barrier();
  /// prefetch.L2 of element `index` of the global buffer `mem` (no register,
  /// nothing to wait for).
  void prefetchL2(mlir::Value mem, mlir::Value index);
  /// A 16-byte store of `x` (8 x f16) to element `index` of the global
  /// buffer `mem`, marked streaming (st.global.cs: evicted first from L2).
  void storeStreaming(mlir::Value x, mlir::Value mem, mlir::Value index);
  /// bar.sync id, threads: only the warps that take part wait.
  void namedBarrier(int32_t id, int64_t threads);
  void syncWarp();
  /// for (e = tid; e < n; e += threads) body(e)
  void strided(int64_t n, const std::function<void(mlir::Value)> &body);
  /// if (cond) body()
  void when(mlir::Value cond, const std::function<void()> &body);

  /// The lane's coordinates in the mma.sync m16n8k16 fragments.
  struct Lane {
    mlir::Value lane, g, t, t2, l8, hi8, q8, l16;
  };
  Lane lane();

  /// What becomes of one accumulator element (row, column, value) of a
  /// product: by default it is stored to the product's `out`.
  using Epilogue = std::function<void(mlir::Value, mlir::Value, mlir::Value)>;
  /// Two neighbouring elements (row, column, value at column, at column + 1).
  using PairEpilogue = std::function<void(mlir::Value, mlir::Value, mlir::Value, mlir::Value)>;
  /// Accumulators of one 16 x 16 output tile: columns 0-7 and 8-15, each a
  /// vector<2x2xf32> (rows g, g + 8; columns 2t, 2t + 1).
  using Acc = std::array<mlir::Value, 2>;
  /// What becomes of a whole 16 x 16 accumulator tile at (row, column).
  using TileEpilogue = std::function<void(mlir::Value, mlir::Value, const Acc &)>;
  struct Product {
    Mat A;
    Mat out;
    bool accumulate = false; // start from out's values instead of 0
    Epilogue epilogue = nullptr;
    mlir::Value accScale = nullptr; // those values times this
    PairEpilogue pairEpilogue = nullptr;
    TileEpilogue tileEpilogue = nullptr;
    /// Keep the warp's accumulators in registers (times rowScale(row) when
    /// given) instead of storing them: matmuls returns them.
    bool keep = false;
    std::function<mlir::Value(mlir::Value)> rowScale = nullptr;
    /// Start from accumulators kept by an earlier matmuls of the same tiling
    /// (one per column tile of a warp's strip; none: empty).
    llvm::SmallVector<Acc, 2> init = {};
  };
  /// A 16 x 16 tile of the K x VT state held in a warp's registers from h0
  /// to ht (two accumulators, like a product's): rows ti.., columns tj..;
  /// `mine` false where the warp holds a copy of another warp's tile.
  struct OwnTile {
    mlir::Value ti, tj, mine;
  };
  /// The tiles t = w + kWarps m (m < ceil(tiles / kWarps)) of the state, w =
  /// (warp + shift) mod kWarps; past the last tile a warp repeats tile t mod
  /// tiles. With `strip` > 1, t numbers row strips of that many 16 x 16
  /// tiles (16 x 16 strip), listed tile by tile, the strip's tiles together.
  llvm::SmallVector<OwnTile> ownStateTiles(int64_t VT, int64_t shift = 0, int64_t strip = 1);
  /// Their accumulators (two per tile) from h0's columns v0 .. (zeros
  /// without h0 or past V).
  llvm::SmallVector<mlir::Value> loadStateRegisters(const Lane &ln, llvm::ArrayRef<OwnTile> own, mlir::Value v0);
  /// ht's columns v0 .. (those inside V) = the accumulators S of the tiles
  /// the warp owns.
  void storeStateRegisters(const Lane &ln, llvm::ArrayRef<OwnTile> own, llvm::ArrayRef<mlir::Value> S, mlir::Value v0);
  mlir::Value zeroAcc();
  /// The m16n8k16 A fragment (vector<4x2xf16>) of A's 16 x 16 block at rows
  /// ai, columns k0, by one ldmatrix (.trans where A is column-major).
  mlir::Value fragmentA(const Lane &ln, const Mat &A, mlir::Value ai, mlir::Value k0);
  /// B's 16 x 16 block at rows k0, columns tj as two n8 B fragments (pieces
  /// 0-1: columns tj .., 2-3: tj + 8 ..), by one ldmatrix.
  mlir::Value fragmentB(const Lane &ln, const Mat &B, mlir::Value tj, mlir::Value k0);
  /// acc[p] += As[p][rows ai.., 0..Kd) * B[0..Kd, columns tj..] for one
  /// 16 x 16 tile; the B fragment loaded once per 16-deep step for all p.
  void tileProducts(const Lane &ln, llvm::ArrayRef<Mat> As, Mat B, mlir::Value ai, mlir::Value tj, int64_t Kd,
                    llvm::MutableArrayRef<Acc> acc);
  /// The same for the 16 x 16 tiles at columns tjs of one row strip: A's
  /// fragments loaded once per step for all of them, B's once for all p;
  /// acc[p * tjs.size() + m] is product p's tile at tjs[m].
  /// With `ais`, A p's rows start at ais[p] (ai unused). With kSplit > 1,
  /// the 16-deep steps go round-robin into that many sets of accumulators
  /// (independent chains of tensor-core products), added at the end.
  void stripProducts(const Lane &ln, llvm::ArrayRef<Mat> As, Mat B, mlir::Value ai, llvm::ArrayRef<mlir::Value> tjs,
                     int64_t Kd, llvm::MutableArrayRef<Acc> acc, llvm::ArrayRef<mlir::Value> ais = {},
                     int64_t kSplit = 1);
  /// A warp's tile (strip) of O and its tiles of the state in one pass over
  /// Delta (C x VT, f16): o[s] += QK[oi.., :] Delta[:, own[s].tj..] (none
  /// where o is empty), state[m] += K^T[own[m].ti.., :] Delta[:, own[m].tj..],
  /// the state's tiles `strip` a row in the columns own[0 .. strip).tj.
  /// Delta's fragments loaded once for all of them, K's once a row. Returns
  /// O's accumulators, then the state's.
  llvm::SmallVector<Acc> oAndStatePass(const Lane &ln, Mat QK, mlir::Value oi, llvm::ArrayRef<Acc> o, Mat K,
                                       llvm::ArrayRef<OwnTile> own, llvm::ArrayRef<Acc> state, int64_t strip,
                                       Mat Delta);
  /// fn(row, column, value) for the accumulator elements of a tile at (oi, tj).
  void forEachElement(const Lane &ln, const Acc &acc, mlir::Value oi, mlir::Value tj,
                      const std::function<void(mlir::Value, mlir::Value, mlir::Value)> &fn);
  /// For each product p: p.out[oRow.., :] (f32, M x N) = p.A[aRow.., 0..Kd)
  /// (f16) * B[0..Kd, :] (f16) (+ p.out if accumulating), or p.epilogue of
  /// it, on tensor cores. Warps w0 .. w0 + nw - 1 take the 16 x 16 output
  /// tiles in turn (the caller keeps the other warps out); `order`, when
  /// given, lists the tiles (row, column in tile units) to compute instead of
  /// all of them, tile t going to warp w0 + t mod nw. With `strip` > 1, a
  /// warp's tile is 16 x (16 strip): that many 16 x 16 tiles of one row
  /// (with `order`, from the listed one on), A's fragments loaded once for
  /// them. Products that keep, or start from kept accumulators, need at most
  /// one tile per warp and no `order`; the kept accumulators are returned,
  /// `strip` Accs per keeping product (zeros in the warps without a tile).
  /// kSplit: stripProducts'.
  llvm::SmallVector<Acc> matmuls(llvm::ArrayRef<Product> ps, int64_t aRow, Mat B, int64_t oRow, int64_t M, int64_t N,
                                 int64_t Kd, int64_t w0 = 0, int64_t nw = kWarps,
                                 llvm::ArrayRef<std::pair<int64_t, int64_t>> order = {}, int64_t strip = 1,
                                 int64_t kSplit = 1);

  /// cp.async of `per` values of token row `row` of v from column v0 + j0
  /// into Vc[i, j0 ..], in pieces of `unit` elements (zero-filled unless
  /// `on`); commits them as one group and returns its token.
  /// sm_90a: the products ps (each A: C x Kd, swizzled) times B (Kd x N;
  /// stored transposed and swizzled) by wgmma, their
  /// epilogues from the accumulators. The four warpgroups split the work:
  /// warpgroup w takes product w mod P and column block w / P of N / (4 / P)
  /// columns. The wgmmas run asynchronously while `beside` emits other work.
  void wgmmaProducts(llvm::ArrayRef<Product> ps, Mat B, int64_t N, int64_t Kd, const std::function<void()> &beside);
  /// sm_90: the f16 transpose of a 16 x 16 accumulator tile at (ti, tj)
  /// into X (stored transposed, swizzled: X[tj + j][ti + i]) by one
  /// stmatrix.x4.trans of the warp.
  /// With `elem` (a 16-bit type), the pairs in that type instead of f16,
  /// and with `scale`, the accumulators times it.
  void storeTileTransposed(const Mat &X, const Acc &acc, mlir::Value ti, mlir::Value tj, mlir::Type elem = {},
                           mlir::Value scale = {});
  /// The same untransposed (X[ti + i][tj + j], X row-major f16), a pair of
  /// neighbouring columns a 4-byte store.
  void storeTileF16(const Lane &ln, const Mat &X, const Acc &acc, mlir::Value ti, mlir::Value tj);
  /// fence.proxy.async.shared::cta: this thread's shared-memory stores
  /// ordered before later reads by the tensor cores' asynchronous proxy.
  void fenceAsyncShared();

  mlir::Value copyValues(Mat Vc, mlir::Value i, mlir::Value j0, mlir::Value row, mlir::Value on, mlir::Value v0,
                         int64_t per, int64_t unit);
  /// x = hi + lo with hi x's top 19 bits (a tf32 value) and lo the rest.
  std::pair<mlir::Value, mlir::Value> splitTf32(mlir::Value x);
  /// The blocked solve's off-diagonal and diagonal steps for every 8-column
  /// strip of RHS (f32, C x VT; overwritten), Delta to Dh (f16) and, when
  /// DWh is given, diag(G_C / G) Delta to DWh (LG: the cumulative log G).
  /// Warp w < VT/8 takes the strip at columns 8w; with `warps` fewer than
  /// the block's and VT/8 = 2 warps, warp w < warps takes the strips at 8w
  /// and 8 (w + warps) side by side.
  void solveStrips(Mat Lh, Mat Tinv, Mat RHS, Mat Dh, int64_t VT, const Mat *DWh = nullptr, mlir::Value LG = {},
                   int64_t warps = kWarps);
  /// One set of right-hand sides for solveTransposed: R = diag(rowScale)
  /// src, src the chunk's C x cols matrix as `stored` (f16, bf16 or f32; a
  /// 16-bit one viewed as f16), X to `out` (f16; src's place allowed).
  struct Solve {
    Mat src;
    mlir::Type stored;
    Mat out;
    int64_t cols;
    std::function<mlir::Value(mlir::Value)> rowScale;
  };
  /// X = (I + L)^{-1} R for each Solve (Lh = -L off the diagonal blocks,
  /// Tinv their inverses), by 16-column strips, a warp's strip transposed
  /// and its partial sums in registers (ChunkedSolve.cpp). Warps take the
  /// solves' strips in turn; where two solves have a strip for every warp
  /// each, a warp takes one of each side by side. No barrier inside: Lh,
  /// Tinv and the sources must be in place before, X is after the next.
  void solveTransposed(Mat Lh, Mat Tinv, llvm::ArrayRef<Solve> solves);
  /// The warps solveTransposed gives strips to (0 .. n - 1).
  static int64_t solveWarps(llvm::ArrayRef<Solve> solves);
  /// body(e) for e = tid + m * threads, loads of every round first, then the
  /// stores; a last partial round under a guard.
  void unrolled(int64_t n, const std::function<llvm::SmallVector<mlir::Value>(mlir::Value)> &loads,
                const std::function<void(mlir::Value, llvm::ArrayRef<mlir::Value>)> &stores);

  /// A token's key scale (1 without L2 normalisation) and coefficients.
  struct TokenMath {
    mlir::Value rs, a, b, lg;
  };
  /// The chunk prologue after the loads, for token i of the chunk (eight
  /// threads per token, this one owning columns d0 .. d0 + K/8 of its row; ks
  /// and qs those columns as f32): ||k||^2 by shuffles, the L2 scale, the
  /// keys and queries stored as f16 to Kh / Qh (zeros unless `live`), and,
  /// by the first of the eight (part == 0), the token's a, b and log g
  /// (its inputs loaded then, or given). With `early`, the key scale and
  /// coefficients computed before (by keyNorm and tokenCoefficients).
  void finishPrologue(delta::RecurrenceOp rec, llvm::ArrayRef<mlir::Value> ks, llvm::ArrayRef<mlir::Value> qs,
                      mlir::Value i, mlir::Value d0, mlir::Value part, mlir::Value live, mlir::Value row, Mat Kh,
                      Mat Qh, mlir::Value A, mlir::Value Bc, mlir::Value LG,
                      llvm::ArrayRef<mlir::Value> inputs = {}, const TokenMath *early = nullptr);
  /// The token's ||k||^2 (over the eight lanes of the token, by shuffles; of
  /// the scaled key under L2 normalisation) and the key scale.
  std::pair<mlir::Value, mlir::Value> keyNorm(delta::RecurrenceOp rec, llvm::ArrayRef<mlir::Value> ks);
  /// The token's a, b and log g from ||k||^2 (zeros unless `live`).
  TokenMath tokenCoefficients(mlir::Value lam, mlir::Value rs, mlir::Value live, mlir::Value row,
                              llvm::ArrayRef<mlir::Value> inputs);
  /// x (f32, or an index below 2^31) through an inline-PTX move with side
  /// effects: the code computing x stays where it is emitted instead of
  /// sinking to x's uses, and what is computed from x is not hoisted above
  /// it (out of a loop around).
  mlir::Value pin(mlir::Value x);
  /// LG <- its inclusive prefix sum (64 entries), by the calling warp.
  void scanLogG(mlir::Value LG);
  /// K K^T and Q K^T with their epilogues: KKd the f32 diagonal 16 x 16
  /// blocks of L = diag(a) (Gamma o StrictTril(K K^T)), each transposed
  /// (L[i][j] at row 16 (i / 16) + j mod 16, column i mod 16), Lh = -L
  /// (f16), QKh = Gamma o Tril(Q K^T) (f16).
  llvm::SmallVector<Product> kqProducts(Mat Kh, Mat Qh, Mat KKd, Mat Lh, Mat QKh, mlir::Value A, mlir::Value LG,
                                        bool gated);
  /// Zeros in the 16 x 16 tiles above the diagonal of a chunk's C x C f16
  /// matrix M (padded rows): one 16-byte store per thread where its piece
  /// lies there.
  void clearUpperTiles(Mat M);
  /// The inverse of the unit lower-triangular diagonal block at rows r0 (of
  /// I + L, from KKd) into Tinv (KKd itself allowed), by the calling warp.
  void inverse(mlir::Value r0, Mat KKd, Mat Tinv);
  /// K S and Q S with their epilogues: RHS = diag(b) V - diag(a G) K S and
  /// QS = diag(G) Q S (f32; kept in the warps' registers when `keepQS`).
  llvm::SmallVector<Product> ksProducts(Mat Kh, Mat Qh, Mat RHS, Mat QS, mlir::Value A, mlir::Value Bc,
                                        mlir::Value LG, Mat Vc, bool gated, bool keepQS = false);

  /// S (f32, K x VT) and its f16 copy Sh = columns v0 .. of the pair's h0
  /// (zeros without h0 or past V); then a block barrier.
  void loadStateTile(Mat S, Mat Sh, mlir::Value v0, int64_t VT);
  /// ht's columns v0 .. v0 + VT (those inside V) = S.
  void storeStateTile(Mat S, mlir::Value v0, int64_t VT);
  /// o's rows c0 + i (i < n) and columns v0 .. v0 + VT = scale * O (f32,
  /// C x VT): thread (vi, vj0) a run of C VT / threads consecutive columns,
  /// stored as whole vectors of the storage type when V is a multiple of 16
  /// (then `threads` may be fewer than the block's: those that call it).
  void storeOutputs(Mat O, mlir::Value c0, mlir::Value n, mlir::Value v0, int64_t VT, mlir::Value scale, mlir::Value vi,
                    mlir::Value vj0, int64_t threads = kThreads);

  /// An epilogue storing scale * O's pairs straight to o (rows c0 + i, i <
  /// n; columns v0 + j inside V).
  PairEpilogue outputPairs(mlir::Value c0, mlir::Value n, mlir::Value v0, mlir::Value scale);
  /// The same for whole tiles of O (storage f16 or bf16; O's columns N): a
  /// warp writes scale * its tile's pairs into its 512-byte slot of `stage`
  /// (a vector of io elements, one slot per tile of the C x N output, the
  /// two 16-byte halves of a row swapped in rows 4-7 and 12-15 so that
  /// neither side conflicts), reads back a row half per lane and stores it
  /// to o as one 16-byte vector.
  TileEpilogue outputTiles(mlir::Value c0, mlir::Value n, mlir::Value v0, mlir::Value scale, Mat stage, int64_t N);

  mlir::Value shuffleXor(mlir::Value x, int32_t offset);
  mlir::Value toF16(mlir::Value x);
  mlir::Value select(mlir::Value c, mlir::Value x, mlir::Value y);
  mlir::Value lt(mlir::Value x, mlir::Value y);
  mlir::Value le(mlir::Value x, mlir::Value y);
  mlir::Value eq(mlir::Value x, mlir::Value y);
  mlir::Value div(mlir::Value x, int64_t y);
  mlir::Value rem(mlir::Value x, int64_t y);
};

/// A chunked kernel of the recurrence with value tile VT, or null when the
/// schedule does not apply; the shared-memory bytes it needs either way.
struct BuiltKernel {
  mlir::Operation *fn = nullptr;
  int64_t sharedBytes = 0;
};
BuiltKernel buildPhasedKernel(delta::RecurrenceOp rec, int64_t VT, llvm::StringRef name, llvm::StringRef variant,
                              mlir::Type io, bool prefetch);
/// Needs V a multiple of 16 and K / 8 a whole number of 16-byte pieces.
/// With `wgmma`, the sm_90a form: K S and Q S on the warpgroups' wgmma.
BuiltKernel buildPipelinedKernel(delta::RecurrenceOp rec, int64_t VT, llvm::StringRef name, llvm::StringRef variant,
                                 mlir::Type io, bool wgmma = false);

/// The split schedule (ToGPUSplit.cpp): a chunk-parallel kernel writing the
/// state-independent operands of every chunk to a workspace (U in value
/// tiles of UT columns), and scan kernels with value tile VT (dividing UT)
/// reading them; `variant` names the scan ("split", "split_large"). Null
/// where it does not apply (V a multiple of 16 and of the tiles, keys in
/// whole 16-byte pieces per thread). `pairs`: the scan's sm_90 form, blocks
/// in clusters of two (a pair's neighbouring value tiles) that share each
/// chunk's W, Q, K and QK by multicast bulk copies; null where the operands
/// are not double buffered or V / VT is odd.
/// With `beside`, the form for the ranges of chunks that run beside a scan
/// (three blocks an SM), which a bundle has where splitPrepBeside says.
/// With `inBlocks`, the workspace's W, Q and K in blocks of 64 columns where
/// row-swizzled (struct Workspace: the sm_90a twins of bundles whose scan on
/// warpgroups reads them by bulk copies): every kernel of an image is built
/// with the same.
BuiltKernel buildSplitPrepKernel(delta::RecurrenceOp rec, int64_t UT, llvm::StringRef name, mlir::Type io,
                                 bool beside = false, bool inBlocks = false);
/// Whether the first kernel (of `sharedBytes`) gets a form for the ranges
/// beside a scan: where an SM holds three of its blocks by shared memory
/// and K >= 128.
bool splitPrepBeside(delta::RecurrenceOp rec, int64_t sharedBytes);
BuiltKernel buildSplitScanKernel(delta::RecurrenceOp rec, int64_t VT, int64_t UT, llvm::StringRef name,
                                 llvm::StringRef variant, mlir::Type io, bool pairs = false, bool inBlocks = false);
/// The sm_90a form of a split scan at value tile VT (ToGPUSplitWarpgroup.cpp;
/// the workspace in blocks of 64 columns):
/// the same grid and parameters, blocks of 256 threads, a warpgroup holding
/// the state of 64 value columns as wgmma accumulators. Null where it does
/// not apply (K = 128 or 256, ungated, 16-bit storage, V a multiple of 64 and
/// VT and UT dividing 64 only).
BuiltKernel buildSplitScanWarpgroupKernel(delta::RecurrenceOp rec, int64_t VT, int64_t UT, llvm::StringRef name,
                                          llvm::StringRef variant, mlir::Type io);

} // namespace deltac

#endif
