#include "libs/common/paging.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace upshift {

absl::StatusOr<int> PageSize(int32_t asked) {
  if (asked < 0) return absl::InvalidArgumentError("page_size must not be negative");
  if (asked == 0) return kDefaultPageSize;
  return std::min<int>(asked, kMaxPageSize);
}

std::string PageToken(const std::string& kind, const std::vector<std::string>& fields) {
  return absl::WebSafeBase64Escape(absl::StrCat(kind, "|", absl::StrJoin(fields, "|")));
}

absl::StatusOr<std::vector<std::string>> ParsePageToken(const std::string& token, const std::string& kind,
                                                        size_t count) {
  std::string raw;
  std::vector<std::string> parts;
  if (token.size() <= 1000 && absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '|');
  if (parts.size() != count + 1 || parts[0] != kind) {
    return absl::InvalidArgumentError("page_token is not one this service handed out");
  }
  parts.erase(parts.begin());
  return parts;
}

}  // namespace upshift
