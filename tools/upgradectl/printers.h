#ifndef UPSHIFT_TOOLS_UPGRADECTL_PRINTERS_H_
#define UPSHIFT_TOOLS_UPGRADECTL_PRINTERS_H_

// What upgradectl prints, as text: each function returns its lines, newline-terminated.

#include <string>

#include "google/protobuf/timestamp.pb.h"
#include "upgrade/v1/audit.pb.h"
#include "upgrade/v1/upgrade.pb.h"

namespace upshift::ctl {

// A tag as the frontend shows it ("Upgrade in progress").
std::string TagName(int tag);
// "2026-12-06 10:00:00 UTC", or "-" for an unset time.
std::string When(const google::protobuf::Timestamp& ts);
// "test", "production" or "check".
std::string PurposeWord(int purpose);

// One upgrade, field by field, with its report and row counts.
std::string FormatUpgrade(const upgrade::v1::Upgrade& u);
// The header of `list`, and one database under it; `nested` (a copy, a restore point) is indented
// under its main database.
// `upgradectl servers`: one hosting server per row, its health, load against its limits, labels.
std::string ServerHeader();
std::string FormatServerRow(const upgrade::v1::HostingServerStatus& server);

std::string DatabaseHeader();
std::string FormatDatabaseRow(const upgrade::v1::Database& db, bool nested);
// One line of `watch`: when, the state, the step and what is left, the copy, the error.
std::string FormatWatchLine(const upgrade::v1::Upgrade& u);
// One line of `upgrades`.
std::string FormatUpgradeRow(const upgrade::v1::Upgrade& u);
// The header of `audit`, and one record under it.
std::string AuditHeader();
std::string FormatAuditRow(const upgrade::v1::AuditRecord& r);
// `backlog`: one line per worker group, under a header.
std::string FormatBacklog(const upgrade::v1::GetBacklogResponse& backlog);

// `failures`: each group of failed upgrades (largest first): how many, where, when the last one
// failed, its signature and the databases it holds.
std::string FormatFailureGroups(const upgrade::v1::ListFailureGroupsResponse& groups);

// A rollout: its state and why, then one line per wave (succeeded, running, failed, skipped,
// left), then (GetRollout) each database that is not left, with its upgrade and note.
std::string FormatRollout(const upgrade::v1::Rollout& r);
// `rollout list`: one line per rollout.
std::string FormatRolloutRow(const upgrade::v1::Rollout& r);

// A maintenance window: "Sat, Sun 02:00 for 4h, Europe/Brussels", and when it opens next.
std::string FormatWindow(const upgrade::v1::GetMaintenanceWindowResponse& window);
// `options`: what a database can be upgraded to now.
std::string FormatOptions(const upgrade::v1::GetUpgradeOptionsResponse& options);

}  // namespace upshift::ctl

#endif  // UPSHIFT_TOOLS_UPGRADECTL_PRINTERS_H_
