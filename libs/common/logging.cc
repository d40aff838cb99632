#include "libs/common/logging.h"

#include <cctype>
#include <cstdio>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace upshift {
namespace {

std::mutex log_mu;
std::string& LogName() {
  static std::string* name = new std::string("upshift");
  return *name;
}

void Write(char level, absl::string_view message) {
  std::string when = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string line = EscapeControl(RedactSecrets(message));
  std::lock_guard<std::mutex> lock(log_mu);
  std::fprintf(stderr, "%c %s %s: %s\n", level, when.c_str(), LogName().c_str(), line.c_str());
}

bool KeyChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

}  // namespace

std::string RedactSecrets(absl::string_view text) {
  static const std::string kKeys[] = {"password=", "sslpassword=", "sasl.password=", "ssl.key.password="};
  static const std::string kRedacted = "[redacted]";
  std::string out(text);
  for (const std::string& key : kKeys) {
    for (size_t at = out.find(key); at != std::string::npos; at = out.find(key, at + 1)) {
      if (at > 0 && KeyChar(out[at - 1])) continue;  // a longer key, e.g. sslpassword for password
      size_t begin = at + key.size(), end = begin;
      if (end < out.size() && out[end] == '\'') {  // libpq's quoted value, \' and \\ escaped
        for (++end; end < out.size() && out[end] != '\''; ++end) {
          if (out[end] == '\\') ++end;
        }
        if (end < out.size()) ++end;
      } else {
        while (end < out.size() && !std::isspace(static_cast<unsigned char>(out[end])) && out[end] != ',' &&
               out[end] != ';' && out[end] != '"' && out[end] != ')') {
          ++end;
        }
      }
      out.replace(begin, end - begin, kRedacted);
    }
  }
  // scheme://user:password@host
  for (size_t at = out.find("://"); at != std::string::npos; at = out.find("://", at + 3)) {
    size_t userinfo = at + 3;
    size_t stop = out.find_first_of("/ \t\n@", userinfo);
    if (stop == std::string::npos || out[stop] != '@') continue;
    size_t colon = out.find(':', userinfo);
    if (colon == std::string::npos || colon > stop) continue;
    out.replace(colon + 1, stop - colon - 1, kRedacted);
  }
  return out;
}

std::string EscapeControl(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void SetLogName(absl::string_view name) {
  std::lock_guard<std::mutex> lock(log_mu);
  LogName() = std::string(name);
}
void LogInfo(absl::string_view message) { Write('I', message); }
void LogWarning(absl::string_view message) { Write('W', message); }
void LogError(absl::string_view message) { Write('E', message); }

}  // namespace upshift
