#include "libs/gate/work_claim.h"

#include <unistd.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"

namespace upshift {

std::string ReplicaId(absl::string_view service) {
  char host[65] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  absl::BitGen gen;
  return absl::StrFormat("%s/%s/%d/%06x", service, host, getpid(), absl::Uniform<uint32_t>(gen, 0, 1 << 24));
}

absl::StatusOr<std::unique_ptr<WorkClaim>> WorkClaim::Take(Gate& gate, std::string upgrade_id, std::string work,
                                                           const ClaimOptions& options, const ClaimWait& wait) {
  absl::StatusOr<ClaimAnswer> answer = gate.Claim(upgrade_id, work, options.holder, options.ttl, wait.resumes);
  // The server's capacity is taken: wait here, where the consumer keeps reporting the record as
  // being worked on, and say so.
  std::string said;
  absl::Time said_at = absl::InfinitePast();
  while (answer.ok() && !answer->granted && !answer->done && !answer->waiting_for.empty()) {
    if (answer->waiting_for != said || absl::Now() - said_at >= absl::Seconds(10)) {
      if (said.empty()) LogInfo(absl::StrCat("the ", work, " of upgrade ", upgrade_id, " waits: ", answer->waiting_for));
      if (wait.waiting) wait.waiting(answer->waiting_for);
      said = answer->waiting_for;
      said_at = absl::Now();
    }
    const bool stopping = options.stopping != nullptr ? options.stopping->WaitFor(absl::Seconds(1))
                                                      : (absl::SleepFor(absl::Seconds(1)), false);
    if (stopping) {
      return absl::UnavailableError(absl::StrCat("this replica is stopping: the ", work, " of upgrade ", upgrade_id,
                                                 " waits elsewhere for ", answer->waiting_for));
    }
    answer = gate.Claim(upgrade_id, work, options.holder, options.ttl, wait.resumes);
  }
  if (!answer.ok()) return answer.status();
  if (answer->done) {
    LogInfo(absl::StrCat("the ", work, " of upgrade ", upgrade_id, " was done by ", answer->holder));
    return nullptr;
  }
  if (!answer->granted) {
    return absl::UnavailableError(absl::StrCat("the ", work, " of upgrade ", upgrade_id, " is claimed by ",
                                               answer->holder, " until ", absl::FormatTime(answer->expires_at)));
  }
  return std::unique_ptr<WorkClaim>(new WorkClaim(gate, std::move(upgrade_id), std::move(work), options));
}

WorkClaim::WorkClaim(Gate& gate, std::string upgrade_id, std::string work, ClaimOptions options)
    : gate_(gate), upgrade_id_(std::move(upgrade_id)), work_(std::move(work)), options_(std::move(options)) {
  renewer_ = std::thread([this] { Renew(); });
}

WorkClaim::~WorkClaim() {
  stop_.Notify();
  renewer_.join();
  if (lost_) return;
  if (absl::Status s = gate_.Release(upgrade_id_, work_, options_.holder, done_); !s.ok()) {
    // It expires by itself (and a finished piece of work is then done again, idempotently).
    LogWarning(absl::StrCat("cannot release the claim on the ", work_, " of upgrade ", upgrade_id_, ": ", s.ToString()));
  }
}

absl::Status WorkClaim::Held() const {
  if (options_.stopping != nullptr && options_.stopping->stopped()) {
    return absl::UnavailableError(absl::StrCat("this replica is stopping: the ", work_, " of upgrade ", upgrade_id_,
                                               " goes on elsewhere"));
  }
  if (!lost_) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("the claim on the ", work_, " of upgrade ", upgrade_id_, " was lost to another replica"));
}

void WorkClaim::Renew() {
  while (!stop_.WaitForNotificationWithTimeout(options_.ttl / 3)) {
    // A renewal never waits for capacity: the work holds its place (even past a late renewal).
    absl::StatusOr<ClaimAnswer> answer = gate_.Claim(upgrade_id_, work_, options_.holder, options_.ttl, true);
    if (!answer.ok()) {
      LogWarning(absl::StrCat("cannot renew the claim on the ", work_, " of upgrade ", upgrade_id_, ": ",
                              answer.status().ToString()));
      continue;
    }
    if (!answer->granted) {
      LogError(absl::StrCat("the claim on the ", work_, " of upgrade ", upgrade_id_, " went to ", answer->holder,
                            ": this replica stops that work"));
      lost_ = true;
      return;
    }
  }
}

absl::Status RunUnderClaim(Gate& gate, const std::string& upgrade_id, const std::string& work,
                           const ClaimOptions& options, const std::function<absl::Status(const WorkClaim&)>& fn,
                           const ClaimWait& wait) {
  absl::StatusOr<std::unique_ptr<WorkClaim>> claim = WorkClaim::Take(gate, upgrade_id, work, options, wait);
  if (!claim.ok()) return claim.status();
  if (*claim == nullptr) return absl::OkStatus();  // done, and announced
  absl::Status s = fn(**claim);
  if (s.ok()) (*claim)->Done();
  return s;
}

}  // namespace upshift
