#include "tests/component/environment.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/wait.h"

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

}  // namespace upshift::testing
