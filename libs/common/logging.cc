#include "libs/common/logging.h"

#include <atomic>
#include <cctype>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace upshift {
namespace {

absl::Mutex log_mu(absl::kConstInit);
std::string& LogName() {
  static std::string* name = new std::string("upshift");
  return *name;
}
std::atomic<LogFormat> log_format{LogFormat::kText};
thread_local const LogScope* current_scope = nullptr;

// The length of the valid UTF-8 sequence at `s`, or 0.
size_t Utf8Length(absl::string_view s) {
  unsigned char c = static_cast<unsigned char>(s[0]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || n > s.size() || (n == 2 && c < 0xc2)) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

void Write(const char* level, absl::string_view message) {
  absl::Time now = absl::Now();
  std::string text = RedactSecrets(message);
  std::string line;
  if (log_format.load() == LogFormat::kJson) {
    absl::MutexLock lock(&log_mu);
    line = absl::StrCat("{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
                        "\",\"level\":\"", level, "\",\"service\":", JsonString(LogName()),
                        ",\"message\":", JsonString(text));
    for (const LogScope* scope = current_scope; scope != nullptr; scope = scope->outer()) {
      // The innermost scope's value wins: outer ones are written only for keys it did not set.
      if (!scope->upgrade_id().empty() && line.find(",\"upgrade_id\":") == std::string::npos) {
        absl::StrAppend(&line, ",\"upgrade_id\":", JsonString(scope->upgrade_id()));
      }
      if (!scope->database().empty() && line.find(",\"database\":") == std::string::npos) {
        absl::StrAppend(&line, ",\"database\":", JsonString(scope->database()));
      }
    }
    line += "}\n";
  } else {
    absl::MutexLock lock(&log_mu);
    line = absl::StrCat(std::string(1, std::toupper(static_cast<unsigned char>(level[0]))), " ",
                        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()), " ", LogName(), ": ",
                        EscapeControl(text), "\n");
  }
  absl::MutexLock lock(&log_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
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

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  while (!text.empty()) {
    unsigned char c = static_cast<unsigned char>(text[0]);
    size_t n = Utf8Length(text);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", absl::string_view(text.data(), 1));
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else if (n == 0) {
      out += "\\ufffd";  // not UTF-8: replaced, so that the line stays valid JSON
      n = 1;
    } else {
      out.append(text.data(), n);
    }
    text.remove_prefix(n == 0 ? 1 : n);
  }
  return out + "\"";
}

LogScope::LogScope(std::string upgrade_id, std::string database)
    : upgrade_id_(std::move(upgrade_id)), database_(std::move(database)), outer_(current_scope) {
  current_scope = this;
}

LogScope::~LogScope() { current_scope = outer_; }

void SetLogFormat(LogFormat format) { log_format.store(format); }

void SetLogName(absl::string_view name) {
  absl::MutexLock lock(&log_mu);
  LogName() = std::string(name);
}
void LogInfo(absl::string_view message) { Write("info", message); }
void LogWarning(absl::string_view message) { Write("warning", message); }
void LogError(absl::string_view message) { Write("error", message); }

}  // namespace upshift
