#ifndef UPSHIFT_SERVICES_REQUEST_CONFIG_H_
#define UPSHIFT_SERVICES_REQUEST_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/request/gate_policy.h"
#include "services/request/retention.h"

namespace upshift::request {

// request's own flags, read and checked (the shared ones: libs/*/..._flags.h).
struct Config {
  std::string listen, gate_listen, port_file, platform_db, catalog;
  std::vector<std::string> reserved;
  int pool_size;
  absl::Duration outbox_poll_interval;
  absl::Duration max_test_age;
  absl::Duration test_copy_extension;
  int orders_per_tenant_per_hour;
  int order_burst_per_tenant;
  int reads_per_tenant_per_minute;
  int read_burst_per_tenant;
  int max_database_reads;
  absl::Duration database_read_timeout;
  RetentionOptions retention;
  bool plaintext;
  GateIdentities gate_identities;
  // The default bound on a Production upgrade's offline window (AdmissionOptions).
  double max_offline_factor = 3;
  absl::Duration max_offline_floor;
  // How long the cloner keeps a restore point: reverts are admitted within it.
  absl::Duration restore_point_retention;
  // Scheduled upgrades (ScheduleOptions): how often they are looked at, and the reminder's lead.
  absl::Duration schedule_interval;
  absl::Duration reminder_before;
  // How often running rollouts are driven (Rollouts::Sweep).
  absl::Duration rollout_interval;
};

// INVALID_ARGUMENT naming the flag that is out of range.
absl::StatusOr<Config> ConfigFromFlags();

}  // namespace upshift::request

#endif  // UPSHIFT_SERVICES_REQUEST_CONFIG_H_
