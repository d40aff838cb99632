#include "libs/common/ids.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace upshift {

std::string NewUpgradeId() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen);
  uint64_t lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                         lo & 0xffffffffffffULL);
}

namespace {

std::string ShortId(absl::string_view upgrade_id) {
  std::string out;
  for (char c : upgrade_id) {
    if (c != '-') out += c;
    if (out.size() == 8) break;
  }
  return out;
}

}  // namespace

std::string TestDatabaseName(absl::string_view database, absl::string_view upgrade_id) {
  // 48 + "_test_" + 8 = 62 characters at most.
  return absl::StrCat(database.substr(0, 48), "_test_", ShortId(upgrade_id));
}

std::string CheckDatabaseName(absl::string_view database, absl::string_view upgrade_id) {
  return absl::StrCat(database.substr(0, 48), "_chk_", ShortId(upgrade_id));
}

std::string RestorePointName(absl::string_view database, absl::string_view upgrade_id) {
  return absl::StrCat(database.substr(0, 48), "_rp_", ShortId(upgrade_id));
}

std::string EventId(absl::string_view upgrade_id, absl::string_view kind) {
  return absl::StrCat(upgrade_id, "/", kind);
}

}  // namespace upshift
