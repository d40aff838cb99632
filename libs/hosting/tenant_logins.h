#ifndef UPSHIFT_LIBS_HOSTING_TENANT_LOGINS_H_
#define UPSHIFT_LIBS_HOSTING_TENANT_LOGINS_H_

// For adapter .cc files only, as libs/pg/pg.h: it names libpqxx's connection.

#include <functional>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace upshift {

namespace pg {
class Pool;
}

// How the platform enters a customer's database to run the customer's SQL (steps, checks, the
// version query, neutralization, a restore of its dump): as a login of its own that is no
// superuser. So whatever code of the customer's runs there (a trigger, a function, an operator, a
// constraint, a command step) runs in a session whose session_user is that login: RESET ROLE or
// SET SESSION AUTHORIZATION gives it nothing the owner lacks.
struct TenantLogin {
  // The database owner role the login acts for (SET ROLE owner inside its sessions).
  std::string owner;
  // The login role: a member of `owner` and of nothing else (but the group kTenantLoginGroup, which
  // holds no privilege), NOINHERIT, never a superuser. Empty when `owner` is itself a superuser:
  // there is no role below it to act as, and the platform's own session acts as it.
  std::string login;
  std::string password;

  // The libpq connection string of a session in `dbname` as this login (or, for a superuser owner,
  // as the platform: `base` as it is), built on `base`, the platform's connection string.
  std::string ConnInfo(const std::string& base, const std::string& dbname) const;
};

// The role every tenant login is a member of, so that pg_hba.conf can name them all at once
// (`host all +upshift_tenant_logins <network> scram-sha-256`). It holds no privilege.
inline constexpr char kTenantLoginGroup[] = "upshift_tenant_logins";

// Makes and keeps one login per owner role on one hosting server. Their passwords are random, kept
// in the server's maintenance database (table upshift.tenant_logins in `postgres`, readable by
// superusers only) so that every service and replica uses the same one, and set on the role as a
// SCRAM verifier (the password itself never reaches the server's logs). Thread-safe.
class TenantLogins {
 public:
  // `conninfo`: the platform's (superuser's) libpq connection string of the server, without dbname.
  explicit TenantLogins(std::string conninfo);
  ~TenantLogins();
  TenantLogins(const TenantLogins&) = delete;
  TenantLogins& operator=(const TenantLogins&) = delete;

  // The login acting for `owner`, made or repaired (its attributes, its password, its one
  // membership) on first use in this process. NOT_FOUND: no such role. FAILED_PRECONDITION: the
  // owner may create roles (it could take over other tenants' logins, so nothing is run as it).
  // UNAVAILABLE: the server did not answer.
  absl::StatusOr<TenantLogin> For(const std::string& owner);

  // Drops what For remembered of `owner`: its next call repairs the login (e.g. after the server
  // refused its password, which the customer's own code can change).
  void Forget(const std::string& owner);

  // The login role's name for `owner`: kLoginPrefix and 16 hex digits of SHA-256(owner), so any
  // owner name (up to PostgreSQL's 63 bytes) fits.
  static std::string LoginName(const std::string& owner);

 private:
  absl::StatusOr<TenantLogin> Ensure(const std::string& owner);

  const std::string conninfo_;
  std::unique_ptr<pg::Pool> admin_;
  absl::Mutex mu_;
  std::map<std::string, TenantLogin> known_ ABSL_GUARDED_BY(mu_);
};

// Opens a session in `dbname` as `owner`'s login (TenantLogins::For). When the session cannot be
// opened, the login is repaired once and tried again (the customer's code may have changed its
// password). `base`: the platform's connection string, without dbname.
absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenAsTenant(TenantLogins& logins, const std::string& base,
                                                                const std::string& owner, const std::string& dbname);

// OpenAsTenant, then runs `fn` in that session and closes it.
absl::Status AsTenant(TenantLogins& logins, const std::string& base, const std::string& owner,
                      const std::string& dbname, const std::function<absl::Status(pqxx::connection&)>& fn);

// A SCRAM-SHA-256 verifier of `password` (RFC 5802/7677, as PostgreSQL stores it in pg_authid), with
// a fresh random salt and 4096 iterations.
std::string ScramVerifier(const std::string& password);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_HOSTING_TENANT_LOGINS_H_
