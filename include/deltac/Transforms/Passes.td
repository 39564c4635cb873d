//===- Passes.td - deltac's passes ------------------------*- tablegen -*-===//
#ifndef DELTAC_TRANSFORMS_PASSES
#define DELTAC_TRANSFORMS_PASSES

include "mlir/Pass/PassBase.td"

def DeltaDiscretize : Pass<"delta-discretize", "::mlir::ModuleOp"> {
  let summary = "Integrate each delta.ode into a delta.recurrence with safe coefficients";
  let description = [{
    Replaces every `delta.ode` by the `delta.recurrence` its integrator
    produces (MATH.md, section 2): with x_g = h gam and x = x_g + h c lam,

        g = R(-x_g)
        a = (g - R(-x)) / (g lam)
        b = d (1 - R(-x)) / (gam + c lam)

    emitted without cancellation or division by zero: for a rational R the
    compiler evaluates exact polynomials derived from the tableau
    ((1 - R(-x)) / x and its divided difference) with compensated Horner
    schemes; for the exact flow it uses expm1 with its series near 0.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect"];
}

def DeltaChunk : Pass<"delta-chunk", "::mlir::ModuleOp"> {
  let summary = "Tile each delta.recurrence into the chunkwise-parallel (UT transform) scan";
  let description = [{
    Replaces every `delta.recurrence` by a function that runs one
    (sequence, head) pair: a loop over chunks of C tokens carrying the state
    S (K x V, f32), and per chunk (MATH.md, section 4, with decay-weighted
    matrices and cumulative log-gates in f32 when there is a gate):

      prologue   keys (L2-normalised if asked), lam, (g, a, b), log G
      L          = diag(a) (Gamma o StrictTril(K K^T)),   Gamma_ij = G_i / G_j
      QK         = Gamma o Tril(Q K^T)
      KS, QS     = K S0, Q S0
      Delta      = (I + L)^{-1} (diag(b) V - diag(a G) K S0)   (forward substitution)
      O          = scale (diag(G) Q S0 + QK Delta)
      S          = G_C S0 + K^T diag(G_C / G) Delta

    The function takes flat f32 buffers in FLA's layout (q, k, v, the
    per-token inputs, h0, o, ht) and the pair's token range and head.
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", /*default=*/"0",
           "tokens per chunk: 16, 32, 64 or 128 (0: the compiler chooses)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::func::FuncDialect"];
}

def DeltaSequential : Pass<"delta-sequential", "::mlir::ModuleOp"> {
  let summary = "Lower each delta.recurrence to a token-by-token scan (no chunking)";
  let description = [{
    The second path: the same function signature as delta-chunk, one token at
    a time (S = g (S - a k (k^T S)) + b k v^T, o = scale S^T q).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::func::FuncDialect"];
}

def DeltaToGPU : Pass<"delta-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower each delta.recurrence to a GPU kernel (one block per pair and value tile)";
  let description = [{
    Replaces every `delta.recurrence` by `gpu.func @<name>` in
    `gpu.module @<name>_kernels`: block x is the (sequence, head) pair, block
    y the value tile, and each thread keeps one column of the state S (K
    values) across the pair's tokens, applying the recurrence token by token.
    This is the GPU backend's reference path: correct at any shape, with no
    tensor-core work yet.
  }];
  let options = [
    Option<"valueTile", "value-tile", "int64_t", /*default=*/"128",
           "threads per block (state columns per block)">,
    Option<"storage", "storage", "std::string", /*default=*/"\"spec\"",
           "storage type of q, k, v, the inputs and o: spec (the spec's dtype), f32, bf16 or f16">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::gpu::GPUDialect"];
}

def DeltaToGPUChunked : Pass<"delta-to-gpu-chunked", "::mlir::ModuleOp"> {
  let summary = "Lower each delta.recurrence to a chunked GPU kernel on tensor cores";
  let description = [{
    One block of 16 warps per (sequence, head) pair and value tile; chunks
    of 64 tokens; the per-chunk products (K K^T, Q K^T, K S0, Q S0,
    QK Delta, K^T Delta) as 16x16x16 f16 tensor-core fragments with f32
    accumulation (nvgpu.ldmatrix + nvgpu.mma.sync), the solve blocked by 16
    rows (diagonal inverses in f32; per 8-column strip one warp applies the
    off-diagonal updates on f16 tensor cores and the inverses on tf32 ones,
    split operands for f32 accuracy). Two schedules: pipelined (the next
    chunk's prologue, K K^T, Q K^T and inverses beside this chunk's K S / Q S
    and solve, three block barriers per chunk, chunk operands double
    buffered, the state tile in registers) and phased (one phase after
    another, the state tile in dynamic shared memory); `schedule=auto` takes
    the pipelined one where it fits in shared memory. The value tile halves
    until the block fits. With `wgmma`, each pipelined kernel gets an sm_90a
    twin (`@<name>__sm90a`, attribute delta.twin_of) whose K S and Q S run
    on wgmma from 128-byte swizzled operands in shared memory (K a multiple
    of 64); the sm_90 image of a bundle is then built from the twins, the
    sm_80 one from the originals. The larger-tile split scan then gets an
    sm_90a twin on warpgroups instead of its clusters of two (`__wg`, K =
    128, ungated, 16-bit storage: blocks of 256 threads, one warpgroup
    holding S^T of 64 value columns as wgmma accumulators, the other copying
    each chunk's rows).

    Two kernels per recurrence: `@<name>` with the value tile `value-tile`,
    and, when the narrow tile (`narrow-value-tile`; by default 64 beside a
    wide tile of 128, else 16) is smaller than both V and the wide tile,
    `@<name>_narrow` with that tile, for problems with too few (sequence,
    head) pairs to fill the GPU (the runtime chooses by shape). With
    `split-value-tile` non-zero, also the split schedule's two kernels:
    `@<name>_split_prep` (one block per chunk: every state-independent
    operand of the chunk, written to a workspace) and `@<name>_split` (the
    scan over chunks with that value tile, reading them; block x is
    pair * (V / tile) + tile). By default its tile is V / 8 (at least 16):
    each of a chunk's key-side operands is read by at most eight blocks.
    Where the scan's operands are double buffered and movers fetch them
    (K = 128), each scan also gets an sm_90a twin, `@<scan>__pairs`
    (`delta.target = "sm_90a"`, `known_cluster_size = [2, 1, 1]`), which the
    sm_90 image (then built for sm_90a) holds under the scan's name: a pair's two neighbouring value
    tiles run as a cluster and each asks for half of every chunk's W, Q, K
    and QK rows, multicast to both by bulk copies on the buffer's mbarrier.
  }];
  let options = [
    Option<"valueTile", "value-tile", "int64_t", "128",
           "Value columns per block: 16, 32, 64 or 128 (128: ungated recurrences with 16-bit storage "
           "and V > 64, else halved)">,
    Option<"narrowValueTile", "narrow-value-tile", "int64_t", "-1",
           "Value tile of the variant for fewer pairs (0: none; -1: 64 beside a wide tile of 128, else 16)">,
    Option<"splitValueTile", "split-value-tile", "int64_t", "-1",
           "Value tile of the split schedule's scan kernel: 16, 32 or 64 (that scan only); -1: the "
           "compiler's choice (V / 8, at least 16, halved until it fits, and a second scan at twice "
           "that tile where it fits); 0: no split kernels">,
    Option<"storage", "storage", "std::string", /*default=*/"\"spec\"",
           "storage type of q, k, v, the inputs and o: spec (the spec's dtype), f32, bf16 or f16">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"auto\"",
           "auto (pipelined where it fits, else phased), pipelined or phased">,
    Option<"wgmma", "wgmma", "bool", /*default=*/"false",
           "also build an sm_90a form of each pipelined kernel (K S, Q S by wgmma) and of the larger-tile split "
           "scan (a warpgroup holding the state of 64 value columns) for Hopper (experimental)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::gpu::GPUDialect",
                           "::mlir::nvgpu::NVGPUDialect", "::mlir::vector::VectorDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif
