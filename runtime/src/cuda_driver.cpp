//===- cuda_driver.cpp - the CUDA driver API, loaded at run time ----------===//
#include "cuda_driver.h"

#include <dlfcn.h>
#include <type_traits>

namespace deltart {

const Driver *driver(std::string &error) {
  static Driver d;
  static std::string loadError;
  static bool ok = [] {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      loadError = "no CUDA driver: libcuda.so.1 could not be loaded";
      return false;
    }
    bool all = true;
    auto sym = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn) {
        loadError = std::string("no CUDA driver: libcuda.so.1 lacks ") + name;
        all = false;
      }
    };
    sym(d.cuInit, "cuInit");
    sym(d.cuDeviceGetCount, "cuDeviceGetCount");
    sym(d.cuDeviceGet, "cuDeviceGet");
    sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    sym(d.cuDeviceGetName, "cuDeviceGetName");
    sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(d.cuCtxGetCurrent, "cuCtxGetCurrent");
    sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(d.cuCtxGetDevice, "cuCtxGetDevice");
    sym(d.cuModuleLoadData, "cuModuleLoadData");
    sym(d.cuModuleUnload, "cuModuleUnload");
    sym(d.cuModuleGetFunction, "cuModuleGetFunction");
    sym(d.cuLaunchKernel, "cuLaunchKernel");
    sym(d.cuMemAlloc, "cuMemAlloc_v2");
    sym(d.cuMemFree, "cuMemFree_v2");
    sym(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    sym(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    sym(d.cuMemsetD32, "cuMemsetD32_v2");
    sym(d.cuMemsetD16, "cuMemsetD16_v2");
    sym(d.cuStreamSynchronize, "cuStreamSynchronize");
    sym(d.cuCtxSynchronize, "cuCtxSynchronize");
    sym(d.cuEventCreate, "cuEventCreate");
    sym(d.cuEventRecord, "cuEventRecord");
    sym(d.cuEventSynchronize, "cuEventSynchronize");
    // CUDA 12.8+ exports cuEventElapsedTime_v2; older drivers only the first.
    void *elapsed = dlsym(lib, "cuEventElapsedTime_v2");
    if (!elapsed)
      elapsed = dlsym(lib, "cuEventElapsedTime");
    d.cuEventElapsedTime = reinterpret_cast<decltype(d.cuEventElapsedTime)>(elapsed);
    if (!elapsed) {
      loadError = "no CUDA driver: libcuda.so.1 lacks cuEventElapsedTime";
      all = false;
    }
    sym(d.cuEventDestroy, "cuEventDestroy_v2");
    sym(d.cuGetErrorString, "cuGetErrorString");
    sym(d.cuFuncSetAttribute, "cuFuncSetAttribute");
    sym(d.cuStreamCreate, "cuStreamCreate");
    sym(d.cuStreamDestroy, "cuStreamDestroy_v2");
    // Optional: without them, a bundle keeps one workspace of its own.
    auto optional = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    };
    optional(d.cuFuncGetAttribute, "cuFuncGetAttribute");
    optional(d.cuLaunchKernelEx, "cuLaunchKernelEx");
    optional(d.cuMemPoolCreate, "cuMemPoolCreate");
    optional(d.cuMemPoolDestroy, "cuMemPoolDestroy");
    optional(d.cuMemPoolSetAttribute, "cuMemPoolSetAttribute");
    optional(d.cuMemAllocFromPoolAsync, "cuMemAllocFromPoolAsync");
    optional(d.cuMemFreeAsync, "cuMemFreeAsync");
    if (!all)
      return false;
    if (CUresult rc = d.cuInit(0)) {
      loadError = cudaError(d, "cuInit", rc);
      return false;
    }
    return true;
  }();
  if (!ok) {
    error = loadError;
    return nullptr;
  }
  return &d;
}

std::string cudaError(const Driver &d, const char *call, CUresult rc) {
  const char *msg = nullptr;
  if (d.cuGetErrorString)
    d.cuGetErrorString(rc, &msg);
  return std::string(call) + " failed: " + (msg ? msg : "unknown error") + " (code " +
         std::to_string(rc) + ")";
}

bool ensureContext(const Driver &d, std::string &error) {
  CUcontext ctx = nullptr;
  if (CUresult rc = d.cuCtxGetCurrent(&ctx)) {
    error = cudaError(d, "cuCtxGetCurrent", rc);
    return false;
  }
  if (ctx)
    return true;
  int count = 0;
  if (CUresult rc = d.cuDeviceGetCount(&count)) {
    error = cudaError(d, "cuDeviceGetCount", rc);
    return false;
  }
  if (count == 0) {
    error = "no CUDA device";
    return false;
  }
  CUdevice dev;
  if (CUresult rc = d.cuDeviceGet(&dev, 0)) {
    error = cudaError(d, "cuDeviceGet", rc);
    return false;
  }
  if (CUresult rc = d.cuDevicePrimaryCtxRetain(&ctx, dev)) {
    error = cudaError(d, "cuDevicePrimaryCtxRetain", rc);
    return false;
  }
  if (CUresult rc = d.cuCtxSetCurrent(ctx)) {
    error = cudaError(d, "cuCtxSetCurrent", rc);
    return false;
  }
  return true;
}

} // namespace deltart
