#ifndef UPSHIFT_LIBS_COMMON_CONCURRENT_H_
#define UPSHIFT_LIBS_COMMON_CONCURRENT_H_

#include <cstddef>
#include <functional>

namespace upshift {

// Calls fn(0), ..., fn(n - 1) on at most `parallel` threads, the caller's among them, and returns
// once every call returned. The calls start in index order; `fn` must not throw.
void ForEachConcurrently(size_t n, size_t parallel, const std::function<void(size_t)>& fn);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_CONCURRENT_H_
