#include "libs/common/validation.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace upshift {
namespace {

bool IsLowerOrDigitOrUnderscore(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_'; }

// Quotes a rejected value for an error message without echoing control characters.
std::string Printable(absl::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    out += absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (s.size() > 80) out += "...";
  return absl::StrCat("\"", out, "\"");
}

}  // namespace

absl::Status ValidateDatabaseName(absl::string_view name, const std::vector<std::string>& reserved) {
  if (name.empty()) return absl::InvalidArgumentError("database is required");
  if (name.size() > 63 || !absl::ascii_islower(name[0]) ||
      !std::all_of(name.begin(), name.end(), IsLowerOrDigitOrUnderscore)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "database ", Printable(name),
        " is not a valid name: use 1 to 63 characters, a lowercase letter first, then lowercase letters, "
        "digits or underscores"));
  }
  if (name == "postgres" || name == "template0" || name == "template1" ||
      std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("database \"", name, "\" is reserved for the server or the platform and cannot be upgraded"));
  }
  return absl::OkStatus();
}

absl::Status ValidateVersion(absl::string_view version) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "version ", Printable(version), " is not valid: use dot-separated numbers such as \"17.0\""));
  };
  if (version.empty()) return absl::InvalidArgumentError("target_version is required");
  if (version.size() > 32) return bad();
  std::vector<absl::string_view> parts = absl::StrSplit(version, '.');
  if (parts.size() > 4) return bad();
  for (absl::string_view p : parts) {
    if (p.empty() || p.size() > 9 || !std::all_of(p.begin(), p.end(), absl::ascii_isdigit)) return bad();
  }
  return absl::OkStatus();
}

absl::Status ValidateEmail(absl::string_view email) {
  if (email.empty()) return absl::InvalidArgumentError("notify_email is required");
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("notify_email ", Printable(email), " is not valid: ", why));
  };
  if (email.size() > 254) return bad("254 characters at most");
  size_t at = email.find('@');
  if (at == absl::string_view::npos || email.find('@', at + 1) != absl::string_view::npos) {
    return bad("expected exactly one @");
  }
  absl::string_view local = email.substr(0, at);
  absl::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > 64) return bad("the part before @ must have 1 to 64 characters");
  for (char c : local) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-')) {
      return bad("the part before @ may hold letters, digits and . _ % + - only");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != absl::string_view::npos) {
    return bad("dots cannot start, end or repeat in the part before @");
  }
  std::vector<absl::string_view> labels = absl::StrSplit(domain, '.');
  if (labels.size() < 2) return bad("the domain needs a dot, as in example.com");
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !std::all_of(label.begin(), label.end(), [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
      return bad("the domain may hold letters, digits, dots and hyphens only");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestId(absl::string_view request_id) {
  if (request_id.size() > 128 ||
      !std::all_of(request_id.begin(), request_id.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request_id ", Printable(request_id), " is not valid: use up to 128 of A-Z a-z 0-9 . _ : -"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUpgradeId(absl::string_view id) {
  bool ok = id.size() == 36;
  for (size_t i = 0; ok && i < id.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    ok = dash ? id[i] == '-' : (absl::ascii_isdigit(id[i]) || (id[i] >= 'a' && id[i] <= 'f'));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("upgrade_id ", Printable(id), " is not valid: expected a lowercase UUID"));
  }
  return absl::OkStatus();
}

}  // namespace upshift
