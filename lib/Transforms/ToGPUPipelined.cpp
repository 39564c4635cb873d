//===- ToGPUPipelined.cpp - the pipelined schedule of the chunked kernel --===//
//
// The chunked scan of MATH.md section 4 with chunk c's state-dependent work
// and chunk c + 1's state-independent work side by side. A block of 16 warps
// per (sequence, head) pair and value tile; per chunk c, three intervals
// between block barriers:
//
//   I1  all warps: K S, Q S of chunk c (the RHS epilogue), the state read
//       from its f16 copy; with one tile per warp (value tile 64) Q S stays
//       in the warp's registers for its tile of O in I3, and the next
//       chunk's key norms and coefficients are issued before the products;
//       beside them the prologue of chunk c + 1 (its
//       keys, queries and inputs loaded in I3 of the chunk before and carried
//       by the loop in registers; the values by cp.async); chunk c + 2
//       brought into L2 (but with row strips, below)
//   I2  warps 0 .. VT/8 - 1: the per-strip solve of chunk c (Delta, and
//       diag(G_C / G) Delta when gated; at value tile 128, warps 0-7 two
//       strips each);
//       warps 8 .. 15: chunk c + 1's cumulative log G (then named barrier
//       1), the ten K K^T / Q K^T tiles on or below the diagonal with their
//       masks (in row strips: warps 8-11 two tiles of a row, 12-13 one,
//       14-15 bringing chunk c + 3 into L2; balanced at K = 64, one tile a
//       warp); the warps with a diagonal tile invert its block
//   I3  all warps: O = QS + QK Delta, each warp's tile staged in shared
//       memory (b16 storage) and stored to o as 16-byte rows;
//       S = G_C S + K^T (diag(G_C / G) Delta) in registers (each warp owns
//       fixed 16 x 16 tiles of the state), its f16 copy for the next chunk;
//       ungated with Q S in registers, the warp's tile of O and its state
//       tiles in one pass over Delta; the global loads of chunk c + 2's
//       prologue issued
//
// Chunk operands (keys, queries, values, coefficients, -L, QK, the inverses)
// are double buffered by chunk parity; the state tile lives in registers
// from h0 to ht. At value tile 128 (ungated, 16-bit storage) a warp's tiles
// of Q S, O and the state are row strips of two 16 x 16 tiles, and Delta
// lives in the place of the chunk's values.
//
// The sm_90a form (wgmma): in I1 warpgroup w issues the wgmmas of K S (w
// even) or Q S (w odd) for half the value columns, from the keys, queries and
// the state's f16 copy held in wgmma's 128-byte swizzled layout, runs the
// next chunk's prologue while they complete, then their epilogues; the f16
// copy is written transposed by stmatrix in I3, and every thread fences its
// shared-memory stores for the asynchronous proxy before the last barrier.
//
//===----------------------------------------------------------------------===//
#include "ChunkedGpu.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace deltac {

BuiltKernel buildPipelinedKernel(delta::RecurrenceOp rec, int64_t VT, StringRef name, StringRef variant, Type io,
                                 bool wgmma) {
  const int64_t K = rec.getKeyDim(), V = rec.getValueDim(), C = kChunk;
  const int64_t ioBytes = io.getIntOrFloatBitWidth() / 8, width = 16 / ioBytes;
  // Values by cp.async in whole 16-byte pieces of a row, keys by 16-byte
  // vector loads, the solve's strips on warps 0-7.
  // Value tile 128 (one block per pair at V = 128: the chunk's keys and
  // queries loaded, and K K^T, Q K^T and the inverses computed, once for all
  // of the pair's columns instead of once per 64): each warp's tiles of Q S,
  // O and the state are row strips of two 16 x 16 tiles, the solve's warps
  // take two strips each. Ungated kernels on mma.sync with 16-bit storage
  // only (shared memory: Delta in the place of the chunk's values).
  const bool tile128 = VT == 128;
  if (V % 16 || (K / 8) % width || (VT > 64 && !tile128))
    return {};
  if (tile128 && (wgmma || ioBytes != 2 || !KernelBuilder::isUngated(rec)))
    return {};
  if (wgmma && K % 64) // whole 128-byte swizzle rows
    return {};
  KernelBuilder kb = KernelBuilder::gpu(rec, "gpu-chunked", name, io);
  OpBuilder &b = kb.builder();
  Location l = kb.loc();
  using Mat = Chunked::Mat;
  Chunked ck{kb, b, l, K, V, Value(), Value(), b.getF16Type(), b.getF32Type()};
  Operation *fn = kb.function();
  // With one output tile per warp (VT = 64), Q S stays in the registers of
  // the warp that computes it in I1 and adds it to the same tile of O in I3.
  // (Measured at B8 T4096 and B4 T8192: -1..-5%; with fewer tiles than warps,
  // where only some warps keep a tile, +4..+10% at B1 T32768.) The wgmma
  // form's warpgroups split the tiles differently: shared memory there.
  const int64_t qStrip = tile128 ? 2 : 1, stripsN = VT / (16 * qStrip);
  const bool qsInRegisters = !wgmma && (C / 16) * stripsN == kWarps;
  // O's 16 x 16 tiles staged for 16-byte stores in the place of RHS, dead
  // in I3. (Measured against the accumulator pairs stored straight to o:
  // -2..-3% at B8 T4096 D128 and B4 T8192 D64, where the stores' address
  // registers waited on the pair stores ahead of them.)
  const bool stagedO = io.getIntOrFloatBitWidth() == 16;
  // I3 in one pass over Delta when the warp's tile of O (tile `warp`: Q S
  // in its registers) and its state tiles (tiles warp + 16 m) lie in the
  // same columns and read the same Delta (ungated): Delta's fragments
  // loaded once for all of them, their chains interleaved. (Measured:
  // -5..-6% at B8 T4096 D128 and B4 T8192 D64.) At value tile 128 the same
  // with row strips of two tiles for O and the state.
  const bool fusedI3 = qsInRegisters && stagedO && kb.ungated() && kWarps % stripsN == 0;
  assert((!tile128 || fusedI3) && "value tile 128: Q S in registers, I3 in one pass");
  // The solve's warps (warps 8-15 are busy with the next chunk in I2).
  const int64_t solveWarps = std::min<int64_t>(VT / 8, 8);
  // I2's K K^T / Q K^T tiles of ungated kernels in row strips, a warp's
  // tiles sharing the rows of K and Q: warps 8-11 two tiles of a row
  // ((3, 0-1), (3, 2-3), (2, 0-1), (1, 0-1)), warps 12-13 one ((2, 2),
  // (0, 0)): 176 fragment loads a chunk instead of 240, at most four tile
  // products a warp as before; their tile numbers pinned (else ptxas spills
  // 60 bytes at K = 128).
  // (Measured against one tile a warp, two on warps 8-9: B8 T4096 D128
  // EFLA -1.3%, DeltaNet -2.5%, the narrow kernel at B1 T8192 -5%.)
  // With `balanced` instead, one tile a warp (the diagonal ones on warps
  // 10-13), the last two tiles' K K^T on warps 8-9 and their Q K^T on warps
  // 14-15: at most three tile products a warp. Only in the wide kernel at
  // K = 64. (Measured: B4 T8192 D64 -4% against one tile a warp; at K = 128
  // +1.3% against that, with pinned tile numbers and no spills.) Gated
  // kernels keep one tile a warp, two on warps 8-9 (row strips: ptxas
  // spills 44 bytes in gated DeltaNet's at K = 128), and so does the wgmma
  // form (its swizzled keys: 92-108 bytes spilled at K = 128, B8 T4096
  // +21%).
  const bool balanced = K <= 64 && VT == 64, rowStrips = !balanced && kb.ungated() && !wgmma;
  static constexpr std::pair<int64_t, int64_t> strips[] = {{3, 0}, {3, 2}, {2, 0}, {1, 0}},
                                               singles[] = {{2, 2}, {0, 0}};
  // The warps after the strips' and the singles' have no tile in I2: with
  // row strips they bring a chunk into L2 there, a token a thread.
  constexpr int64_t freeWarp = 8 + std::size(strips) + std::size(singles);
  static_assert((kWarps - freeWarp) * 32 == kChunk, "a token a free thread");
  const std::string freeWarps = std::to_string(freeWarp) + "-" + std::to_string(kWarps - 1);
  Value smem = ck.begin(
      VT, variant, "pipelined",
      std::string("pipelined, 3 block barriers per chunk: [all warps: this chunk's K S, Q S") +
          (wgmma ? " (sm_90a: wgmma, warpgroups 0/2 K S, 1/3 Q S, half the columns each)" : "") +
          (qsInRegisters ? " (Q S kept in each warp's registers for its tile of O), the next chunk's key norms and "
                           "coefficients issued before them"
                         : "") +
          "; the next chunk's prologue] "
          "[warps 0-" +
          std::to_string(solveWarps - 1) + ": this chunk's solve" + (tile128 ? " (two 8-column strips a warp)" : "") +
          " | warps 8-15: the next chunk's K K^T, Q K^T tiles on or below the diagonal" +
          (rowStrips
               ? " (warps 8-11 two tiles of a row, 12-13 one), warps 9, 11-13 inverting the diagonal blocks; warps " +
                     freeWarps + ": the chunk after the next one's rows into L2, a 128-byte line a prefetch"
           : balanced ? " (one a warp, the last two split by product), warps 10-13 inverting the diagonal blocks"
                      : " (one a warp, two on warps 8-9), warps 10-13 inverting the diagonal blocks") +
          "] [all warps: O to o" +
          (stagedO ? " (each warp's tile staged in shared memory, stored as 16-byte rows)" : "") +
          (fusedI3 ? " and the state update in one pass over Delta" : ", the state update") +
          ", the loads for the chunk after next]; chunk operands double buffered, the state tile in registers");
  if (wgmma)
    fn->setAttr("delta.target", b.getStringAttr("sm_90a"));
  fn->setAttr("delta.value_staging", b.getStringAttr("cp.async"));
  fn->setAttr("delta.key_loads", b.getStringAttr("vector16"));
  fn->setAttr("delta.key_staging", b.getStringAttr("registers-next-chunk"));
  const bool gated = !kb.ungated();

  // Shared memory.
  int64_t off = 0;
  // The f16 operands in padded rows; for wgmma the keys, the queries and
  // the state's f16 copy (stored transposed) in its 128-byte swizzled
  // layout. (Measured with mma.sync at B8 T4096: keys and queries in
  // unswizzled 8 x 8 core matrices 20% slower than padded rows, the
  // prologue's 16-byte stores of a token's keys all falling in the same
  // banks.)
  if (wgmma)
    smem = ck.alignShared(smem);
  Mat Sh = wgmma ? Chunked::T(ck.view(smem, off, VT, K, ck.f16, true)) : ck.view(smem, off, K, VT, ck.f16);
  Chunked::Twin Kh2 = ck.twin(smem, off, C, K, ck.f16, wgmma), Qh2 = ck.twin(smem, off, C, K, ck.f16, wgmma);
  Chunked::Twin Vc2 = ck.twin(smem, off, C, VT, io);
  Chunked::Twin Lh2 = ck.twin(smem, off, C, C, ck.f16), QKh2 = ck.twin(smem, off, C, C, ck.f16);
  Chunked::Twin Tinv2 = ck.twin(smem, off, C, 16, ck.f32);
  Chunked::Twin A2 = ck.twin(smem, off, C, 1, ck.f32), B2 = ck.twin(smem, off, C, 1, ck.f32),
                LG2 = ck.twin(smem, off, C, 1, ck.f32);
  // The f32 diagonal blocks of L live only in I2 (warps 10-13 compute and
  // invert them), where the values of the other parity are dead: kept there
  // when they fit. (Measured at B8 T4096 D128 beside Q S in registers: -4%
  // EFLA, -2% DeltaNet against a KKd of its own.) At value tile 128 Delta
  // takes that place instead (it lives in I2 and I3): else the block needs
  // more than 227 KiB at K = 128.
  std::optional<Chunked::Twin> DhInVc = tile128 ? ck.alias(Vc2, C, VT, ck.f16) : std::nullopt;
  std::optional<Chunked::Twin> KKdInVc = tile128 ? std::nullopt : ck.alias(Vc2, C, 16, ck.f32);
  Mat KKdOwn = KKdInVc ? Mat{} : ck.view(smem, off, C, 16, ck.f32);
  int64_t rhsOff = off;
  Mat RHS = ck.view(smem, off, C, VT, ck.f32);
  Mat Ostage = stagedO ? ck.view(smem, rhsOff, (C / 16) * (VT / 16) * 256, 1, io) : Mat{};
  assert(rhsOff <= off && "the staging fits in RHS");
  Mat QS = qsInRegisters ? Mat{} : ck.view(smem, off, C, VT, ck.f32);
  assert((!tile128 || DhInVc) && "Delta fits in the place of the values");
  Mat DhOwn = DhInVc ? Mat{} : ck.view(smem, off, C, VT, ck.f16);
  Mat DWh = gated ? ck.view(smem, off, C, VT, ck.f16) : DhOwn;
  const int64_t sharedBytes = off + (wgmma ? 1024 : 0); // and the alignment
  fn->setAttr("delta.shared_bytes", b.getI64IntegerAttr(sharedBytes));
  if (sharedBytes > kMaxSharedBytes) // the caller erases it
    return {fn, sharedBytes};

  Value zero = kb.idx(0), one = kb.idx(1), Vn = kb.idx(V), fzero = kb.f32(0);
  Value scale = kb.f32(llvm::cast<FloatAttr>(kb.attr("delta.scale")).getValueAsDouble());
  Value v0 = kb.imul(gpu::BlockIdOp::create(b, l, gpu::Dimension::y), kb.idx(VT));
  Value len = kb.len(), last = arith::SubIOp::create(b, l, len, one);
  auto clampTok = [&](Value t) { return kb.tokenRow(arith::MinUIOp::create(b, l, t, last)); };
  // Prologue threads: token pTok of the chunk, columns pD0 .. pD0 + K/8.
  static_assert(kThreads == 8 * kChunk, "the prologue maps eight threads to a token");
  Value pTok = ck.div(ck.tid, 8), part = ck.rem(ck.tid, 8), pD0 = kb.imul(part, kb.idx(K / 8));
  // Value copies: thread moves `per` values of row vi from column vj0, in
  // pieces of `unit` (<= 16 bytes).
  const int64_t per = C * VT / kThreads, unit = std::min<int64_t>(per, width);
  Value vi = ck.div(kb.imul(ck.tid, kb.idx(per)), VT), vj0 = ck.rem(kb.imul(ck.tid, kb.idx(per)), VT);

  // The keys and queries of the chunk at c this thread reads (16-byte
  // vectors, k then q); tokens past the end read the last one.
  auto loadKeys = [&](Value c) {
    Value base = kb.iadd(kb.imul(clampTok(kb.iadd(c, pTok)), kb.idx(K)), pD0);
    auto vt = VectorType::get({width}, io);
    SmallVector<Value> raw;
    for (Value mem : {kb.k(), kb.q()})
      for (int64_t d = 0; d < K / 8; d += width)
        raw.push_back(vector::LoadOp::create(b, l, vt, mem, ValueRange{kb.iadd(base, kb.idx(d))}, false,
                                             llvm::MaybeAlign(16)));
    return raw;
  };
  // What the prologue of the chunk at c loads from global memory: the raw
  // keys and queries, then the token's inputs (loaded a chunk ahead and
  // carried by the loop, so that their latency hides behind a whole
  // interval; brought into L2 by prefetches an interval before that).
  const int64_t nRaw = 2 * (K / 8 / width);
  auto loadAhead = [&](Value c) {
    SmallVector<Value> ahead = loadKeys(c);
    // The inputs as stored: converted in the prologue, so that nothing in
    // I3, where these loads are issued, waits for them.
    Value row = clampTok(kb.iadd(c, pTok));
    for (unsigned i = 0; i < kb.numberOfInputs(); ++i)
      ahead.push_back(kb.load(kb.input(i), row));
    return ahead;
  };
  // Into L2: the keys and queries of token row `row` from column d0 on,
  // `span` columns, a prefetch every `step`; then its inputs.
  auto prefetchRow = [&](Value row, Value d0, int64_t span, int64_t step) {
    Value base = kb.iadd(kb.imul(row, kb.idx(K)), d0);
    for (Value mem : {kb.k(), kb.q()})
      for (int64_t d = 0; d < span; d += step)
        ck.prefetchL2(mem, kb.iadd(base, kb.idx(d)));
    for (unsigned i = 0; i < kb.numberOfInputs(); ++i)
      ck.prefetchL2(kb.input(i), row);
  };
  // The chunk at c, by every thread: its 16-byte pieces of the prologue's
  // token (eight threads to a 128-byte line at K = 128 in bf16).
  auto prefetch = [&](Value c) {
    ck.when(ck.lt(c, len), [&] { prefetchRow(clampTok(kb.iadd(c, pTok)), pD0, K / 8, width); });
  };
  // The chunk at c, by the warps free in I2 of the row-strip kernels: a
  // token a thread, one prefetch a 128-byte line, instead of `prefetch` in
  // I1 (there the key norm's shuffles waited on the prefetches' address
  // registers). (Measured, chunk c + 3 from I2 of c against c + 2 from I1:
  // B8 T4096 D128 DeltaNet -1.7%, EFLA +-0.3%; the narrow kernel
  // -1.5..-2.5%.)
  auto prefetchLines = [&](Value c) {
    ck.when(ck.le(kb.idx(freeWarp), ck.warp), [&] {
      Value tok = kb.iadd(c, arith::SubIOp::create(b, l, ck.tid, kb.idx(freeWarp * 32)));
      ck.when(ck.lt(tok, len), [&] { prefetchRow(kb.tokenRow(tok), zero, K, 128 / ioBytes); });
    });
  };
  // The raw keys (r = 0) or queries (r = 1) of `ahead` as f32.
  auto unpack = [&](ArrayRef<Value> ahead, int r) {
    ArrayRef<Value> raw = ahead.take_front(nRaw).slice(r * nRaw / 2, nRaw / 2);
    SmallVector<Value> xs;
    auto vf = VectorType::get({width}, ck.f32);
    for (Value v : raw) {
      Value x = io.isF32() ? v : Value(arith::ExtFOp::create(b, l, vf, v));
      for (int64_t m = 0; m < width; ++m)
        xs.push_back(vector::ExtractOp::create(b, l, x, ArrayRef<int64_t>{m}));
    }
    return xs;
  };
  auto unpackInputs = [&](ArrayRef<Value> ahead) {
    SmallVector<Value> inputs;
    for (Value x : ahead.drop_front(nRaw))
      inputs.push_back(x.getType().isF32() ? x : Value(arith::ExtFOp::create(b, l, ck.f32, x)));
    return inputs;
  };
  // This thread's token of the chunk at c: its f32 keys and inputs, whether
  // it is in the sequence, its (clamped) row.
  struct Token {
    SmallVector<Value> ks, inputs;
    Value live, row;
  };
  // The token, and its key scale and coefficients computed where this is
  // called (each result pinned there): their latency (the shuffles, EFLA's
  // exp and division) then overlaps whatever follows.
  auto tokenMath = [&](ArrayRef<Value> ahead, Value c, Token &t) {
    t.ks = unpack(ahead, 0);
    auto [lam, rs] = ck.keyNorm(rec, t.ks);
    t.inputs = unpackInputs(ahead);
    Value tok = kb.iadd(c, pTok);
    t.live = ck.lt(tok, len);
    t.row = clampTok(tok);
    Chunked::TokenMath m = ck.tokenCoefficients(lam, rs, t.live, t.row, t.inputs);
    for (Value *x : {&m.rs, &m.a, &m.b, &m.lg})
      *x = ck.pin(*x);
    return m;
  };
  auto finish = [&](const Token &t, ArrayRef<Value> qs, Mat Kh, Mat Qh, Value A, Value Bc, Value LG,
                    const Chunked::TokenMath *early) {
    ck.finishPrologue(rec, t.ks, qs, pTok, pD0, part, t.live, t.row, Kh, Qh, A, Bc, LG, t.inputs, early);
  };
  auto prologue = [&](ArrayRef<Value> ahead, Value c, Mat Kh, Mat Qh, Value A, Value Bc, Value LG) {
    SmallVector<Value> ks = unpack(ahead, 0), qs = unpack(ahead, 1), inputs = unpackInputs(ahead);
    Value tok = kb.iadd(c, pTok);
    Value live = ck.lt(tok, len), row = clampTok(tok);
    finish(Token{ks, inputs, live, row}, qs, Kh, Qh, A, Bc, LG, nullptr);
  };
  // cp.async of the chunk's values at c into Vc (rows past the end and
  // columns past V zero-filled), one group.
  auto copyValues = [&](Value c, Mat Vc) {
    Value tok = kb.iadd(c, vi);
    Value row = clampTok(tok);
    Value on = arith::AndIOp::create(b, l, ck.lt(tok, len), ck.lt(kb.iadd(v0, vj0), Vn));
    ck.copyValues(Vc, vi, vj0, row, on, v0, per, unit);
  };
  auto waitAll = [&]() {
    Value none =
        nvgpu::DeviceAsyncCreateGroupOp::create(b, l, nvgpu::DeviceAsyncTokenType::get(b.getContext()), ValueRange{});
    nvgpu::DeviceAsyncWaitOp::create(b, l, none, b.getI32IntegerAttr(0));
  };

  // The state tiles this warp owns: t = warp + 16 m (warps past the last
  // tile repeat one and keep their results to themselves).
  Chunked::Lane ln = ck.lane();
  SmallVector<Chunked::OwnTile> own = ck.ownStateTiles(VT, 0, qStrip);
  auto c2 = VectorType::get({2, 2}, ck.f32);
  auto writeSh = [&](ArrayRef<Value> S) {
    for (size_t m = 0; m < own.size(); ++m)
      ck.when(own[m].mine, [&] {
        if (wgmma) // transposed by stmatrix
          ck.storeTileTransposed(Sh, {S[2 * m], S[2 * m + 1]}, own[m].ti, own[m].tj);
        else
          ck.storeTileF16(ln, Sh, {S[2 * m], S[2 * m + 1]}, own[m].ti, own[m].tj);
      });
  };
  // The state from h0 (or 0).
  SmallVector<Value> S0 = ck.loadStateRegisters(ln, own, v0);
  writeSh(S0);

  // Q K^T's tiles above the diagonal stay zero (never computed), in both
  // buffers.
  for (Value par : {zero, one})
    ck.clearUpperTiles(ck.at(QKh2, par));
  // The state-independent work of a chunk on warps 8-15 (named barrier 1):
  // its cumulative log G (gated), then the ten 16 x 16 tiles of K K^T and
  // Q K^T on or below the diagonal, both products each; the warp of a
  // diagonal tile then inverts its block (no barrier between product and
  // inverse).
  auto chunkMatrices = [&](Value par) {
    Mat Kh = ck.at(Kh2, par), Qh = ck.at(Qh2, par);
    Mat KKd = KKdInVc ? ck.at(*KKdInVc, arith::SubIOp::create(b, l, kb.idx(1), par)) : KKdOwn;
    Value A = ck.at(A2, par).mem, LG = ck.at(LG2, par).mem;
    if (gated) {
      ck.when(ck.eq(ck.warp, kb.idx(8)), [&] { ck.scanLogG(LG); });
      ck.namedBarrier(1, 8 * 32);
    }
    SmallVector<Chunked::Product> kq = ck.kqProducts(Kh, Qh, KKd, ck.at(Lh2, par), ck.at(QKh2, par), A, LG, gated);
    ArrayRef<std::pair<int64_t, int64_t>> tiles(kLowerTiles);
    if (balanced) {
      ck.matmuls(kq, 0, Chunked::T(Kh), 0, C, C, K, 8, 8, tiles.take_front(8));
      ck.when(ck.lt(ck.warp, kb.idx(10)),
              [&] { ck.matmuls({kq[0]}, 0, Chunked::T(Kh), 0, C, C, K, 8, 2, tiles.drop_front(8)); });
      ck.when(ck.le(kb.idx(14), ck.warp),
              [&] { ck.matmuls({kq[1]}, 0, Chunked::T(Kh), 0, C, C, K, 14, 2, tiles.drop_front(8)); });
    } else if (rowStrips) {
      ck.pinTiles = true;
      ck.when(ck.lt(ck.warp, kb.idx(12)), [&] { ck.matmuls(kq, 0, Chunked::T(Kh), 0, C, C, K, 8, 4, strips, 2); });
      Value single = arith::AndIOp::create(b, l, ck.le(kb.idx(12), ck.warp), ck.lt(ck.warp, kb.idx(14)));
      ck.when(single, [&] { ck.matmuls(kq, 0, Chunked::T(Kh), 0, C, C, K, 12, 2, singles); });
      ck.pinTiles = false;
      // The warps whose tiles hold a diagonal one invert its block (r0: its
      // first row), read off the two lists.
      Value r0 = kb.idx(0), diagonal;
      auto inverts = [&](ArrayRef<std::pair<int64_t, int64_t>> list, int64_t w0, int64_t strip) {
        for (auto [k, tile] : llvm::enumerate(list)) {
          auto [row, col] = tile;
          if (row < col || row >= col + strip)
            continue;
          Value mine = ck.eq(ck.warp, kb.idx(w0 + int64_t(k)));
          r0 = ck.select(mine, kb.idx(16 * row), r0);
          diagonal = diagonal ? arith::OrIOp::create(b, l, diagonal, mine).getResult() : mine;
        }
      };
      inverts(strips, 8, 2);
      inverts(singles, 12, 1);
      ck.when(diagonal, [&] {
        ck.syncWarp();
        ck.inverse(r0, KKd, ck.at(Tinv2, par));
      });
      return;
    } else { // warps 8-9 take two tiles, both products each
      ck.matmuls(kq, 0, Chunked::T(Kh), 0, C, C, K, 8, 8, tiles);
    }
    Value w = arith::SubIOp::create(b, l, ck.warp, kb.idx(10));
    ck.when(ck.lt(w, kb.idx(C / 16)), [&] {
      ck.syncWarp();
      ck.inverse(kb.imul(w, kb.idx(16)), KKd, ck.at(Tinv2, par));
    });
  };
  auto upperWarps = [&] { return arith::CmpIOp::create(b, l, arith::CmpIPredicate::uge, ck.warp, kb.idx(8)); };

  // Chunk 0's prologue, K K^T, Q K^T and inverses.
  ck.when(arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, len, zero), [&] {
    SmallVector<Value> raw = loadAhead(zero);
    copyValues(zero, ck.at(Vc2, zero));
    Value A = ck.at(A2, zero).mem, Bc = ck.at(B2, zero).mem, LG = ck.at(LG2, zero).mem;
    prologue(raw, zero, ck.at(Kh2, zero), ck.at(Qh2, zero), A, Bc, LG);
    ck.barrier();
    ck.when(upperWarps(), [&] { chunkMatrices(zero); });
    waitAll();
  });
  if (wgmma)
    ck.fenceAsyncShared(); // Kh, Qh and the state's f16 copy, read by wgmma next
  ck.barrier();
  // Chunk 1's loads (zeros for an empty sequence: nothing to read).
  SmallVector<Value> init = S0;
  {
    SmallVector<Type> types(nRaw, VectorType::get({width}, io));
    for (unsigned i = 0; i < kb.numberOfInputs(); ++i)
      types.push_back(llvm::cast<MemRefType>(kb.input(i).getType()).getElementType());
    auto ahead = scf::IfOp::create(b, l, types, arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, len, zero), true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ahead.thenBlock());
    scf::YieldOp::create(b, l, loadAhead(kb.idx(C)));
    b.setInsertionPointToStart(ahead.elseBlock());
    SmallVector<Value> zeros;
    for (Type t : types) {
      auto shaped = llvm::dyn_cast<VectorType>(t);
      TypedAttr z = shaped ? TypedAttr(DenseElementsAttr::get(shaped, b.getZeroAttr(shaped.getElementType())))
                           : TypedAttr(b.getZeroAttr(t));
      zeros.push_back(arith::ConstantOp::create(b, l, z));
    }
    scf::YieldOp::create(b, l, zeros);
    init.append(ahead.getResults().begin(), ahead.getResults().end());
  }

  if (rowStrips) // the first chunk the loop's I2 does not bring into L2
    prefetchLines(kb.idx(2 * C));
  SmallVector<Value> out = kb.carry(zero, len, C, init, [&](Value c0, ValueRange carried) {
    SmallVector<Value> S(carried.begin(), carried.begin() + 2 * own.size());
    SmallVector<Value> ahead(carried.begin() + 2 * own.size(), carried.end());
    Value p = ck.rem(ck.div(c0, C), 2), q = arith::SubIOp::create(b, l, one, p);
    Value n = arith::MinSIOp::create(b, l, kb.idx(C), arith::SubIOp::create(b, l, len, c0));
    Value cn = kb.iadd(c0, kb.idx(C));
    Mat Khp = ck.at(Kh2, p), Qhp = ck.at(Qh2, p), Khq = ck.at(Kh2, q), Qhq = ck.at(Qh2, q);
    Value Ap = ck.at(A2, p).mem, Bp = ck.at(B2, p).mem, LGp = ck.at(LG2, p).mem;
    Value Aq = ck.at(A2, q).mem, Bq = ck.at(B2, q).mem, LGq = ck.at(LG2, q).mem;
    Mat Dh = DhInVc ? ck.at(*DhInVc, p) : DhOwn;
    // At value tile 128, I2 and I3 derive the warp's and the lane's numbers
    // (the tiles, rows, columns and addresses of their products and
    // epilogues) afresh from the thread index through a pinned register
    // each, instead of holding them across the loop from before it.
    // (Measured at B8 T4096 D128: EFLA -9.5%, ptxas's spills 96 -> 16 bytes;
    // at value tile 64, B4 T8192 D64, +4.7%: there it stays off.)
    const Value warp0 = ck.warp, tid0 = ck.tid;
    const SmallVector<Chunked::OwnTile> own0 = own;
    const Chunked::Lane ln0 = ln;
    auto rederive = [&] {
      if (!tile128)
        return;
      ck.warp = ck.pin(warp0), ck.tid = ck.pin(tid0);
      own = ck.ownStateTiles(VT, 0, qStrip);
      ln = ck.lane();
    };

    // I1: this chunk's K S and Q S; the next chunk's prologue; the chunk
    // after it brought into L2 (its loads are issued in I3), unless the
    // free warps do that in I2.
    if (!rowStrips)
      prefetch(kb.iadd(c0, kb.idx(2 * C)));
    copyValues(cn, ck.at(Vc2, q));
    SmallVector<Chunked::Product> ksqs =
        ck.ksProducts(Khp, Qhp, RHS, QS, Ap, Bp, LGp, ck.at(Vc2, p), gated, qsInRegisters);
    auto nextPrologue = [&] { prologue(ahead, cn, Khq, Qhq, Aq, Bq, LGq); };
    SmallVector<Chunked::Acc> qs;
    if (wgmma) {
      ck.wgmmaProducts(ksqs, Sh, VT, K, nextPrologue);
    } else if (qsInRegisters) {
      // The next chunk's key scale and coefficients before the products,
      // its f16 stores after them. (Measured: EFLA -1% at B8 T4096, -5% at
      // B4 T8192; in the narrow kernel, whose products are under a branch,
      // +3..+8%: there the prologue stays after them.)
      Token t;
      Chunked::TokenMath early = tokenMath(ahead, cn, t);
      // At value tile 128 the f16 stores before the products too: the
      // token's f32 keys and raw queries not held across them. (Measured at
      // B8 T4096 D128: EFLA -1.2%, ptxas's spills 116 -> 96 bytes.)
      if (tile128)
        finish(t, unpack(ahead, 1), Khq, Qhq, Aq, Bq, LGq, &early);
      // Ungated at K = 64, the 16-deep steps in two sets of accumulators
      // (two independent chains per accumulator instead of one). (Measured:
      // B4 T8192 D64 -2%; at K = 128 ptxas spills 16-24 bytes and B8 T4096
      // took +2..+4%; gated, 32-36 bytes spilled; in the split scan's first
      // phase +3..+8%.)
      qs = ck.matmuls(ksqs, 0, Sh, 0, C, VT, K, 0, kWarps, {}, qStrip, K <= 64 && !gated && qStrip == 1 ? 2 : 1);
      if (!tile128)
        finish(t, unpack(ahead, 1), Khq, Qhq, Aq, Bq, LGq, &early);
    } else {
      qs = ck.matmuls(ksqs, 0, Sh, 0, C, VT, K);
      nextPrologue();
    }
    ck.barrier();

    // I2: this chunk's solve; the next chunk's K K^T, Q K^T and inverses.
    rederive();
    ck.solveStrips(ck.at(Lh2, p), ck.at(Tinv2, p), RHS, Dh, VT, gated ? &DWh : nullptr, LGp, solveWarps);
    ck.when(upperWarps(), [&] { chunkMatrices(q); });
    if (rowStrips)
      prefetchLines(kb.iadd(c0, kb.idx(3 * C)));
    ck.barrier();

    // I3: O = QS + QK Delta to o; S = G_C S + K^T (diag(G_C / G) Delta);
    // the loads of the chunk after the next.
    rederive();
    SmallVector<Value> ahead2 = loadAhead(kb.iadd(c0, kb.idx(2 * C)));
    Chunked::Product o{ck.at(QKh2, p), QS, true};
    if (stagedO)
      o.tileEpilogue = ck.outputTiles(c0, n, v0, scale, Ostage, VT);
    else
      o.pairEpilogue = ck.outputPairs(c0, n, v0, scale);
    SmallVector<Value> next;
    if (fusedI3) {
      // The warp's tile of O and its state tiles share Delta's fragments
      // (column tiles own[0 .. qStrip).tj of Dh): one pass over the chunk
      // for all of them.
      Value oi = kb.imul(ck.div(ck.warp, stripsN), kb.idx(16));
      SmallVector<Chunked::Acc> state;
      for (size_t m = 0; m < own.size(); ++m)
        state.push_back({S[2 * m], S[2 * m + 1]});
      SmallVector<Chunked::Acc> acc = ck.oAndStatePass(ln, o.A, oi, qs, Khp, own, state, qStrip, Dh);
      for (int64_t s = 0; s < qStrip; ++s)
        o.tileEpilogue(oi, own[s].tj, acc[s]);
      for (size_t m = 0; m < own.size(); ++m)
        next.append({acc[qStrip + m][0], acc[qStrip + m][1]});
    } else {
      if (qsInRegisters)
        o.init = {qs[0]};
      ck.matmuls({o}, 0, Dh, 0, C, VT, C);
      Value gc = gated ? kb.exp(kb.load(LGp, kb.idx(C - 1))) : Value();
      for (size_t m = 0; m < own.size(); ++m) {
        Chunked::Acc acc = {S[2 * m], S[2 * m + 1]};
        if (gated)
          for (Value &a : acc)
            a = kb.mul(vector::BroadcastOp::create(b, l, c2, gc), a);
        ck.tileProducts(ln, {Chunked::T(Khp)}, gated ? DWh : Dh, own[m].ti, own[m].tj, C, {&acc, 1});
        next.append({acc[0], acc[1]});
      }
    }
    writeSh(next);
    ck.warp = warp0, ck.tid = tid0, own = own0, ln = ln0;
    waitAll(); // the next chunk's values
    if (wgmma)
      ck.fenceAsyncShared();
    ck.barrier();
    next.append(ahead2);
    return next;
  });

  // ht = the state.
  ck.storeStateRegisters(ln, own, ArrayRef<Value>(out).take_front(2 * own.size()), v0);
  kb.finish(false);
  return {fn, sharedBytes};
}

} // namespace deltac
