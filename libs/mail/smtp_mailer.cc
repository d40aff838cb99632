#include "libs/mail/smtp_mailer.h"

#include <curl/curl.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace upshift {
namespace {

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadChunk(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* up = static_cast<Upload*>(userdata);
  size_t n = std::min(size * nitems, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

}  // namespace

SmtpMailer::SmtpMailer(SmtpOptions options) : options_(std::move(options)) {
  static const bool initialized = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)initialized;
}

absl::Status SmtpMailer::Send(const Email& email) {
  absl::StatusOr<std::string> message = RenderMessage(email, options_.from, absl::Now());
  if (!message.ok()) return message.status();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  Upload upload{&*message};
  std::string from = absl::StrCat("<", options_.from, ">");
  std::string to = absl::StrCat("<", email.to, ">");
  curl_slist* recipients = curl_slist_append(nullptr, to.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadChunk);
  curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  if (!options_.username.empty()) {
    // Credentials never travel in clear: TLS is required (STARTTLS, or smtps://), and libcurl checks
    // the server's certificate and name before it sends them.
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    curl_easy_setopt(curl, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, options_.password.c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  long response = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
  curl_slist_free_all(recipients);
  curl_easy_cleanup(curl);
  if (code == CURLE_OK) return absl::OkStatus();
  std::string what = absl::StrCat("SMTP send to ", email.to, " via ", options_.url, ": ", curl_easy_strerror(code),
                                  response ? absl::StrCat(" (reply ", response, ")") : "");
  // 5xx replies are permanent refusals; everything else (no connection, 4xx, timeouts) may pass later.
  if (response >= 500 && response < 600) return absl::FailedPreconditionError(what);
  return absl::UnavailableError(what);
}

}  // namespace upshift
