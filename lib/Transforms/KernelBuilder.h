//===- KernelBuilder.h - shared pieces of the scan lowerings ----*- C++ -*-===//
//
// Both lowerings of delta.recurrence (chunked and sequential) produce a
// function for one (sequence, head) pair with the signature
//
//   (q, k, v, in_0 .. in_{m-1}, h0, o, ht : memref<?xf32>,
//    bos, len, head, nheads, state, use_h0 : index)
//
// in FLA's layout: token t of the pair is row (bos + t) * nheads + head of
// q/k ([*, K]), v/o ([*, V]) and the inputs ([*]); the pair's state starts at
// element `state` of h0/ht ([K, V] row-major); h0 is read only if use_h0 != 0.
//
//===----------------------------------------------------------------------===//
#ifndef DELTAC_LIB_TRANSFORMS_KERNELBUILDER_H
#define DELTAC_LIB_TRANSFORMS_KERNELBUILDER_H

#include "Delta/DeltaDialect.h"
#include "mlir/Dialect/Arith/IR/Arith.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include <functional>

namespace deltac {

struct TokenCoefficients {
  mlir::Value g, a, b; // f32
};

/// The storage type a GPU pass option names: "spec" (the recurrence's dtype),
/// "f32", "bf16" or "f16"; null (with an error on `rec`) for anything else.
mlir::Type ioStorageType(delta::RecurrenceOp rec, llvm::StringRef option);

class KernelBuilder {
public:
  /// Creates the function (named after the recurrence) next to `rec`.
  KernelBuilder(delta::RecurrenceOp rec, llvm::StringRef kind);
  /// Creates a GPU kernel `gpu.func @<name>` in `gpu.module @<name>_kernels`
  /// with the signature
  ///   (q, k, v, in_0 .. in_{m-1}, h0, o, ht : memref<?xf32>,
  ///    cu_seqlens : memref<?xi64>, nheads, use_h0 : index)
  /// where block x is the (sequence, head) pair n * nheads + head, and the
  /// pair's token range comes from cu_seqlens (N + 1 offsets).
  /// The function is named `name` (default: the recurrence's); kernels of
  /// one recurrence share its gpu.module.
  /// q, k, v, the inputs and o are stored as `io` (f32, bf16 or f16; default
  /// f32); h0 and ht are always f32.
  /// With `workspace`, one more buffer follows use_h0: the f16 scratch
  /// buffer that the split schedule's two kernels share; then chunk_begin,
  /// chunk_end : index, the chunks of every sequence the launch covers
  /// (chunk_begin <= chunk < chunk_end: the runtime may run a forward as
  /// several launches of both kernels over consecutive ranges).
  /// With `tiles` > 0, block x is pair * tiles + tile instead (a pair's
  /// `tiles` value tiles neighbours in launch order, so that they run at
  /// the same time and share their reads in L2); tile() is its tile.
  static KernelBuilder gpu(delta::RecurrenceOp rec, llvm::StringRef kind, llvm::StringRef name = "",
                           mlir::Type io = {}, bool workspace = false, int64_t tiles = 0);

  mlir::Attribute attr(llvm::StringRef name) { return fnOp->getAttr(name); }
  mlir::OpBuilder &builder() { return b; }
  mlir::Location loc() { return l; }
  int64_t K() const { return kDim; }
  int64_t V() const { return vDim; }
  /// Whether g is the constant 1 (no decay gate).
  bool ungated() const { return noGate; }
  /// Whether the recurrence's gate is the constant 1 (before building).
  static bool isUngated(delta::RecurrenceOp rec);

  // Arguments.
  mlir::Value q() { return arg(0); }
  mlir::Value k() { return arg(1); }
  mlir::Value v() { return arg(2); }
  mlir::Value input(unsigned i) { return arg(3 + i); }
  mlir::Value h0() { return arg(3 + numInputs); }
  mlir::Value o() { return arg(4 + numInputs); }
  mlir::Value ht() { return arg(5 + numInputs); }
  /// The workspace buffer (f16) of a kernel built with `workspace`.
  mlir::Value workHalf() { return arg(9 + numInputs); }
  /// The chunk range of a kernel built with `workspace`.
  mlir::Value chunkBegin() { return arg(10 + numInputs); }
  mlir::Value chunkEnd() { return arg(11 + numInputs); }
  /// The sequences' offsets (N + 1 i64) of a GPU kernel.
  mlir::Value cuSeqlens() { return arg(6 + numInputs); }
  mlir::Value bos() { return bosV; }
  mlir::Value len() { return lenV; }
  mlir::Value head() { return headV; }
  mlir::Value tile() { return tileV; }
  mlir::Value nheads() { return nheadsV; }
  mlir::Value state() { return stateV; }
  mlir::Value useH0() { return useH0V; }
  /// The enclosing function (func.func or gpu.func).
  mlir::Operation *function() { return fnOp; }

  // Constants and arithmetic.
  mlir::Value idx(int64_t v);
  mlir::Value f32(double v);
  mlir::Value add(mlir::Value x, mlir::Value y);
  mlir::Value sub(mlir::Value x, mlir::Value y);
  mlir::Value mul(mlir::Value x, mlir::Value y);
  mlir::arith::FastMathFlags fm() const;
  mlir::Value iadd(mlir::Value x, mlir::Value y);
  mlir::Value imul(mlir::Value x, mlir::Value y);
  mlir::Value exp(mlir::Value x);
  mlir::Value load(mlir::Value mem, mlir::ValueRange idx);
  /// Loads an element of q, k, v or an input as f32 (widening the storage type).
  mlir::Value loadIO(mlir::Value mem, mlir::ValueRange idx);
  /// Stores an f32 value into o (narrowing to the storage type).
  void storeIO(mlir::Value val, mlir::Value mem, mlir::ValueRange idx);
  /// The storage type of q, k, v, the inputs and o.
  mlir::Type ioType() const { return io; }
  void store(mlir::Value val, mlir::Value mem, mlir::ValueRange idx);
  mlir::Value scratch(llvm::ArrayRef<int64_t> shape);

  /// for (iv = lb; iv < ub; iv += step) body(iv)
  void loop(mlir::Value lb, mlir::Value ub, int64_t step, const std::function<void(mlir::Value)> &body);
  /// A loop carrying values: body(iv, the values) gives the next ones;
  /// returns the final ones.
  llvm::SmallVector<mlir::Value>
  carry(mlir::Value lb, mlir::Value ub, int64_t step, mlir::ValueRange init,
        const std::function<llvm::SmallVector<mlir::Value>(mlir::Value, mlir::ValueRange)> &body);
  /// A loop carrying one f32 value; returns its final value.
  mlir::Value reduce(mlir::Value lb, mlir::Value ub, mlir::Value init,
                     const std::function<mlir::Value(mlir::Value, mlir::Value)> &body);

  /// Row of token `t` (relative to bos) in the [*, H] layout.
  mlir::Value tokenRow(mlir::Value t);
  /// Loads token row `row`'s key into dst[slot, :] and query into qdst[slot, :]
  /// (normalised as the spec asks) and returns lam = ||k||^2.
  mlir::Value loadKeyQuery(mlir::Value row, mlir::Value dst, mlir::Value qdst, mlir::Value slot);
  /// (g, a, b) of token row `row`, inlining the recurrence's body; the
  /// inputs loaded here, or given (f32).
  TokenCoefficients coefficients(mlir::Value row, mlir::Value lam, llvm::ArrayRef<mlir::Value> inputs = {});
  unsigned numberOfInputs() const { return numInputs; }
  /// S = h0 (or 0); and ht = S at the end.
  void initState(mlir::Value S);
  void storeState(mlir::Value S);
  /// Finishes the function; erases the recurrence unless told not to (when
  /// another kernel is still to be built from it).
  void finish(bool eraseRecurrence = true);

private:
  KernelBuilder(delta::RecurrenceOp rec);
  void setCommonAttrs(llvm::StringRef kind);
  mlir::Value arg(unsigned i) { return entry->getArgument(i); }

  delta::RecurrenceOp rec;
  mlir::OpBuilder b;
  mlir::Location l;
  mlir::func::FuncOp fn;
  mlir::Operation *fnOp = nullptr;
  mlir::Block *entry = nullptr;
  mlir::Value bosV, lenV, headV, nheadsV, stateV, useH0V, tileV;
  int64_t kDim, vDim;
  unsigned numInputs;
  bool noGate;
  /// GPU kernels let a multiply feeding an add contract to one fma.
  bool contract = false;
  mlir::Type io;
};

} // namespace deltac

#endif
