#include "libs/mail/outbox_mailer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace upshift {

OutboxMailer::OutboxMailer(std::string dir, std::string from) : dir_(std::move(dir)), from_(std::move(from)) {}

absl::Status OutboxMailer::Send(const Email& email) {
  absl::StatusOr<std::string> message = RenderMessage(email, from_, absl::Now());
  if (!message.ok()) return message.status();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  // The message id was checked printable and space-free; keep file names to a safe alphabet anyway.
  std::string name = absl::StrReplaceAll(email.message_id, {{"/", "_"}, {"@", "_at_"}});
  std::string final_path = absl::StrCat(dir_, "/", name, ".eml");
  std::string tmp_path = absl::StrCat(final_path, ".tmp");
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    out << *message;
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp_path));
  }
  if (std::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp_path));
  }
  return absl::OkStatus();
}

}  // namespace upshift
