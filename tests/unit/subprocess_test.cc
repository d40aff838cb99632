#include "libs/common/subprocess.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/match.h"

namespace upshift {
namespace {

TEST(RunPipeline, AChildGetsNoneOfTheServicesSecretsOnlyWhatItIsGiven) {
  setenv("UPSHIFT_SMTP_PASSWORD", "hunter2", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "also-secret", 1);
  // Fails (exit 3) if a secret got through; PATH is there, or sh would not be found at all.
  absl::Status clean = RunPipeline(
      {{{"sh", "-c", "test -z \"$UPSHIFT_SMTP_PASSWORD$AWS_SECRET_ACCESS_KEY\" && test -n \"$PATH\" || exit 3"}, {}}},
      absl::Seconds(10));
  EXPECT_TRUE(clean.ok()) << clean;
  absl::Status given = RunPipeline({{{"sh", "-c", "test \"$PGHOST\" = db.example || exit 4"}, {{"PGHOST", "db.example"}}}},
                                   absl::Seconds(10));
  EXPECT_TRUE(given.ok()) << given;
  unsetenv("UPSHIFT_SMTP_PASSWORD");
  unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST(RunPipeline, AFailingCommandIsNamedWithTheTailOfItsErrors) {
  absl::Status failed = RunPipeline({{{"sh", "-c", "echo broken >&2; exit 5"}, {}}}, absl::Seconds(10));
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(absl::StrContains(failed.message(), "broken")) << failed;
}

}  // namespace
}  // namespace upshift
