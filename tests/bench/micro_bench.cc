// The hot in-process paths, with Google Benchmark: an event's round trip through Kafka's bytes, the
// status state machine over a Test's life, and building a plan from the catalog.

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "libs/auth/token_minter.h"
#include "libs/auth/token_verifier.h"
#include "libs/security/record_signature.h"
#include "libs/catalog/catalog.h"
#include "libs/kafka/events.h"
#include "libs/kafka/topics.h"
#include "services/status/status_logic.h"

namespace upshift {
namespace {

upgrade::v1::Order SampleOrder() {
  upgrade::v1::Order order;
  order.set_upgrade_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  order.set_database("acme");
  order.set_from_version("16.0");
  order.set_target_version("18.0");
  order.set_purpose(upgrade::v1::PURPOSE_TEST);
  order.set_notify_email("owner@example.com");
  order.set_test_database("acme_test_0f8fad5b");
  return order;
}

// What every hop costs a worker: make an event, serialize it, parse and validate it on the other side.
void BM_EventRoundTrip(benchmark::State& state) {
  const upgrade::v1::Order order = SampleOrder();
  for (auto _ : state) {
    upgrade::v1::Event event = MakeEvent(order, "clone_started", "cloner", absl::Now());
    event.mutable_clone_started();
    ConsumedRecord record{topics::kEvents, 0, 0, order.database(), event.SerializeAsString()};
    absl::StatusOr<upgrade::v1::Event> parsed = ParseEvent(record);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_EventRoundTrip);

// The same hop with the record signed by its producer and checked by its consumer (Ed25519): what
// record signatures add to each hop, against BM_EventRoundTrip in the same run.
void BM_EventRoundTripSigned(benchmark::State& state) {
  const upgrade::v1::Order order = SampleOrder();
  const std::string dir = std::filesystem::temp_directory_path() / ("upshift-bench-keys-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir + "/trusted");
  absl::StatusOr<std::pair<std::string, std::string>> pair = GenerateSigningKey();
  std::ofstream(dir + "/cloner.key") << pair->first;
  std::ofstream(dir + "/trusted/cloner.pem") << pair->second;
  auto signer = RecordSigner::FromPemFile("cloner", dir + "/cloner.key");
  auto verifier = RecordVerifier::FromDirectory(dir + "/trusted");
  std::filesystem::remove_all(dir);
  if (!signer.ok() || !verifier.ok()) {
    state.SkipWithError("cannot make the keys");
    return;
  }
  const std::vector<std::string> allowed = topics::SignersOf(topics::kEvents);
  for (auto _ : state) {
    upgrade::v1::Event event = MakeEvent(order, "clone_started", "cloner", absl::Now());
    event.mutable_clone_started();
    ConsumedRecord record{topics::kEvents, 0, 0, order.database(), event.SerializeAsString()};
    record.signature = (*signer)->Sign(record.topic, record.key, record.payload);
    record.signer = "cloner";
    absl::Status verified =
        (*verifier)->Verify(record.topic, record.key, record.payload, record.signer, record.signature, allowed);
    absl::StatusOr<upgrade::v1::Event> parsed = ParseEvent(record);
    benchmark::DoNotOptimize(verified);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_EventRoundTripSigned);

// What request and status add to a call to check its bearer token (ES256 against a JWKS): a
// caller's first call (`first`: every iteration a token not seen yet), then its next ones (the same
// token, remembered until it expires).
void TokenVerify(benchmark::State& state, bool first) {
  const std::string dir = std::filesystem::temp_directory_path() / ("upshift-bench-jwks-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  absl::StatusOr<TokenKey> key = GenerateTokenKey("bench");
  std::ofstream(dir + "/jwks.json") << key->jwks_json;
  auto verifier = TokenVerifier::Create({dir + "/jwks.json", "https://idp.example", "upshift"});
  std::vector<std::string> tokens;
  for (int i = 0; i < (first ? 1000 : 1); ++i) {
    absl::StatusOr<std::string> token =
        MintToken(key->private_pem, "bench",
                  {"https://idp.example", "upshift", "owner" + std::to_string(i), "acme", {"upgrades.read"},
                   absl::InfinitePast(), absl::Now() + absl::Hours(1)});
    if (token.ok()) tokens.push_back(*token);
  }
  std::filesystem::remove_all(dir);
  if (!verifier.ok() || tokens.empty()) {
    state.SkipWithError("cannot make the key or the tokens");
    return;
  }
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize((*verifier)->Verify(tokens[i++ % tokens.size()], absl::Now()));
}
void BM_TokenVerifyFirstCall(benchmark::State& state) { TokenVerify(state, true); }
void BM_TokenVerifyNextCalls(benchmark::State& state) { TokenVerify(state, false); }
BENCHMARK(BM_TokenVerifyFirstCall)->Iterations(1000);
BENCHMARK(BM_TokenVerifyNextCalls);

// status's work per event: the next state of an upgrade and its tag changes, over a Test's six events.
void BM_StatusUpdatesOverATest(benchmark::State& state) {
  std::vector<upgrade::v1::Event> events;
  for (const char* kind : {"accepted", "clone_started", "clone_succeeded", "migration_started", "step_applied", "succeeded"}) {
    upgrade::v1::Event e = MakeEvent(SampleOrder(), kind, "bench", absl::Now());
    if (std::string(kind) == "accepted") e.mutable_accepted();
    if (std::string(kind) == "clone_started") e.mutable_clone_started();
    if (std::string(kind) == "clone_succeeded") e.mutable_clone_succeeded()->add_source_rows()->set_rows(5);
    if (std::string(kind) == "migration_started") e.mutable_migration_started();
    if (std::string(kind) == "step_applied") e.mutable_step_applied()->set_steps_total(8);
    if (std::string(kind) == "succeeded") e.mutable_succeeded()->set_version("18.0");
    events.push_back(e);
  }
  for (auto _ : state) {
    std::optional<upgrade::v1::Upgrade> u;
    for (const upgrade::v1::Event& e : events) {
      upgrade::v1::Upgrade next = status::NextUpgrade(u, e);
      benchmark::DoNotOptimize(status::TagChanges(u, next));
      u = std::move(next);
    }
  }
}
BENCHMARK(BM_StatusUpdatesOverATest);

// request's and the migrator's plan: the hops from 16.0 to 18.0 in the sample catalog.
void BM_PlanBuilding(benchmark::State& state) {
  absl::StatusOr<Catalog> catalog = Catalog::Load(std::string(UPSHIFT_SOURCE_DIR) + "/deploy/catalogs/sample_erp");
  if (!catalog.ok()) {
    state.SkipWithError("cannot load the sample catalog");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(catalog->Plan("16.0", "18.0"));
}
BENCHMARK(BM_PlanBuilding);

}  // namespace
}  // namespace upshift

BENCHMARK_MAIN();
