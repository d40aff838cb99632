#ifndef UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_
#define UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_

#include "tests/support/servers.h"

namespace upshift::testing {

// The real servers the component tests share: started once for the binary, stopped at its end.
PostgresServer& Postgres();
DevBroker& Broker();
SmtpServer& Smtp();

}  // namespace upshift::testing

#endif  // UPSHIFT_TESTS_COMPONENT_ENVIRONMENT_H_
