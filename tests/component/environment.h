#ifndef UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_
#define UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_

#include "libs/catalog/catalog.h"
#include "tests/support/servers.h"
#include "upgrade/v1/events.pb.h"

namespace upshift::testing {

// The real servers the component tests share: started once for the binary, stopped at its end.
PostgresServer& Postgres();
DevBroker& Broker();
SmtpServer& Smtp();

// Runs the migrator's plan for `order` (its test_database being the database to upgrade) with
// `catalog`, on the shared PostgreSQL server, with fake publisher, gate and clock; returns the last
// event it published (succeeded or failed).
upgrade::v1::Event MigrateCopy(const Catalog& catalog, const upgrade::v1::Order& order);

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_
