#include <gtest/gtest.h>

#include "libs/common/logging.h"

namespace upshift {
namespace {

TEST(RedactSecrets, PasswordsOfConnectionStringsPropertiesAndUrlsAreRedacted) {
  EXPECT_EQ(RedactSecrets("cannot connect: host=db port=5432 user=upshift password=s3cret dbname=upshift"),
            "cannot connect: host=db port=5432 user=upshift password=[redacted] dbname=upshift");
  EXPECT_EQ(RedactSecrets("host=db password='a b\\'c' sslmode=verify-full"),
            "host=db password=[redacted] sslmode=verify-full");
  EXPECT_EQ(RedactSecrets("sslpassword=k1 password=k2"), "sslpassword=[redacted] password=[redacted]");
  EXPECT_EQ(RedactSecrets("security.protocol=SASL_SSL,sasl.password=p4ss,sasl.username=u"),
            "security.protocol=SASL_SSL,sasl.password=[redacted],sasl.username=u");
  EXPECT_EQ(RedactSecrets("postgresql://upshift:s3cret@db:5432/upshift and smtp://mail:pw@smtp.example:587"),
            "postgresql://upshift:[redacted]@db:5432/upshift and smtp://mail:[redacted]@smtp.example:587");
  // Nothing that merely looks alike is touched.
  EXPECT_EQ(RedactSecrets("https://example.com:443/path the passwords field"), "https://example.com:443/path the passwords field");
}

TEST(EscapeControl, ALoggedValueCannotStartALineOfItsOwn) {
  EXPECT_EQ(EscapeControl("database acme\nE 2026-01-01 forged line\r\x1b[31m"),
            "database acme\\x0aE 2026-01-01 forged line\\x0d\\x1b[31m");
  EXPECT_EQ(EscapeControl("plain text, tabs\tescaped too"), "plain text, tabs\\x09escaped too");
}

}  // namespace
}  // namespace upshift
