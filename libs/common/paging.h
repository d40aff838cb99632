#ifndef UPSHIFT_LIBS_COMMON_PAGING_H_
#define UPSHIFT_LIBS_COMMON_PAGING_H_

// Pages of list RPCs (Google AIP-158): page_size 0 means the default, larger ones are capped, and
// page tokens are opaque to callers and checked when they come back.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace upshift {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// A request's page size: its own, 0 meaning kDefaultPageSize, capped at kMaxPageSize.
// INVALID_ARGUMENT when negative.
absl::StatusOr<int> PageSize(int32_t asked);

// A page token of `kind` carrying `fields` (which must not contain '|').
std::string PageToken(const std::string& kind, const std::vector<std::string>& fields);

// The `count` fields of a token PageToken(kind, ...) made; INVALID_ARGUMENT for anything else.
absl::StatusOr<std::vector<std::string>> ParsePageToken(const std::string& token, const std::string& kind,
                                                        size_t count);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_PAGING_H_
