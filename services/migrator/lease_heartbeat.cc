#include "services/migrator/lease_heartbeat.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"

namespace upshift::migrator {

LeaseHeartbeat::LeaseHeartbeat(LeaseRenewal& target, std::string database, std::string upgrade_id,
                               absl::Duration every)
    : target_(target), database_(std::move(database)), upgrade_id_(std::move(upgrade_id)) {
  Beat();
  thread_ = std::thread([this, every] {
    while (!stop_.WaitFor(every)) Beat();
  });
}

LeaseHeartbeat::~LeaseHeartbeat() {
  stop_.Stop();
  thread_.join();
}

void LeaseHeartbeat::Beat() {
  if (absl::Status s = target_.Heartbeat(database_, upgrade_id_); !s.ok()) {
    LogWarning(absl::StrCat("heartbeat of upgrade ", upgrade_id_, ": ", s.ToString()));
  }
}

}  // namespace upshift::migrator
