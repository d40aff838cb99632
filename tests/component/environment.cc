#include "tests/component/environment.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "services/migrator/migrator.h"
#include "services/migrator/pg_migration_target.h"
#include "tests/support/wait.h"
#include "tests/unit/fakes.h"

namespace upshift::testing {
namespace {

struct Servers {
  std::string dir;
  std::unique_ptr<PostgresServer> postgres;
  std::unique_ptr<DevBroker> broker;
  std::unique_ptr<SmtpServer> smtp;
};
Servers* servers = nullptr;

class ComponentEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    servers = new Servers();
    servers->dir = MakeTempDir("upshift-component");
    auto pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    servers->postgres = *std::move(pg);
    auto broker = DevBroker::Start(servers->dir);
    ASSERT_TRUE(broker.ok()) << broker.status();
    servers->broker = *std::move(broker);
    auto smtp = SmtpServer::Start(servers->dir);
    ASSERT_TRUE(smtp.ok()) << smtp.status();
    servers->smtp = *std::move(smtp);
  }
  void TearDown() override {
    std::string dir = servers->dir;
    delete servers;
    servers = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ComponentEnvironment());

}  // namespace

PostgresServer& Postgres() { return *servers->postgres; }
DevBroker& Broker() { return *servers->broker; }
SmtpServer& Smtp() { return *servers->smtp; }

upgrade::v1::Event MigrateCopy(const Catalog& catalog, const upgrade::v1::Order& order) {
  migrator::PgMigrationTarget target(Postgres().conninfo());
  FakePublisher publisher;
  FakeGate gate;
  FakeClock clock;
  migrator::Migrator migrator(catalog, migrator::OnlyTarget(target), publisher, gate, clock);
  EXPECT_TRUE(migrator.MigrateCopy(order).ok());
  return publisher.Events().back();
}

}  // namespace upshift::testing
