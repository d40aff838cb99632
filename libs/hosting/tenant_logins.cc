#include "libs/hosting/tenant_logins.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "libs/pg/connections.h"
#include "libs/pg/errors.h"
#include "libs/pg/pool.h"
#include "libs/pg/tenant_sessions.h"
#include "libs/pg/values.h"

namespace upshift {
namespace {

constexpr char kLoginPrefix[] = "upshift_t_";

std::string RandomBytes(int n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), n) != 1) std::abort();  // no entropy: nothing is safe
  return bytes;
}

std::string Base64(const unsigned char* data, int n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, n);
  out.resize(written);
  return out;
}

std::string Hmac(const unsigned char* key, int key_len, absl::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, key_len, reinterpret_cast<const unsigned char*>(text.data()), text.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string ScramVerifier(const std::string& password) {
  constexpr int kIterations = 4096;
  const std::string salt = RandomBytes(16);
  unsigned char salted[SHA256_DIGEST_LENGTH];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), kIterations,
                    EVP_sha256(), sizeof(salted), salted);
  const std::string client_key = Hmac(salted, sizeof(salted), "Client Key");
  unsigned char stored_key[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(), stored_key);
  const std::string server_key = Hmac(salted, sizeof(salted), "Server Key");
  return absl::StrCat("SCRAM-SHA-256$", kIterations, ":",
                      Base64(reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size())), "$",
                      Base64(stored_key, sizeof(stored_key)), ":",
                      Base64(reinterpret_cast<const unsigned char*>(server_key.data()),
                             static_cast<int>(server_key.size())));
}

std::string TenantLogin::ConnInfo(const std::string& base, const std::string& dbname) const {
  if (login.empty()) return pg::ConnInfoFor(base, dbname);
  // libpq takes the last value of a repeated keyword: the login replaces the platform's user.
  return pg::ConnInfoFor(
      absl::StrCat(base, " user=", pg::QuoteConnValue(login), " password=", pg::QuoteConnValue(password)), dbname);
}

std::string TenantLogins::LoginName(const std::string& owner) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(owner.data()), owner.size(), digest);
  return absl::StrCat(kLoginPrefix,
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 8)));
}

TenantLogins::TenantLogins(std::string conninfo)
    : conninfo_(std::move(conninfo)),
      admin_(std::make_unique<pg::Pool>(pg::PlatformSession(conninfo_, "postgres"), 2, absl::Seconds(10),
                                        "tenant_logins")) {}

TenantLogins::~TenantLogins() = default;

absl::StatusOr<TenantLogin> TenantLogins::For(const std::string& owner) {
  {
    absl::MutexLock lock(&mu_);
    auto it = known_.find(owner);
    if (it != known_.end()) return it->second;
  }
  absl::StatusOr<TenantLogin> login = Ensure(owner);
  if (!login.ok()) return login;
  absl::MutexLock lock(&mu_);
  known_[owner] = *login;
  return login;
}

void TenantLogins::Forget(const std::string& owner) {
  absl::MutexLock lock(&mu_);
  known_.erase(owner);
}

absl::StatusOr<TenantLogin> TenantLogins::Ensure(const std::string& owner) {
  TenantLogin made;
  absl::Status status = admin_->Transact([&](pqxx::work& tx) {
    made = TenantLogin{owner, "", ""};
    // One maker at a time, across services and replicas: role DDL races otherwise.
    tx.exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('upshift.tenant_logins'))");
    pqxx::result role = tx.exec_params("SELECT rolsuper, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = $1",
                                       owner);
    if (role.empty()) return absl::NotFoundError(absl::StrCat("role \"", owner, "\" does not exist"));
    if (role[0][0].as<bool>()) return absl::OkStatus();  // a superuser owner: nothing below it to act as
    if (role[0][1].as<bool>()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database's owner \"", owner, "\" may create roles, so it could take over any tenant's login: "
          "Upshift runs nothing as it (ALTER ROLE ", owner, " NOCREATEROLE, then order again)"));
    }
    if (absl::Status ours = pg::EnsurePlatformSchema(tx); !ours.ok()) return ours;
    tx.exec(
        "CREATE TABLE IF NOT EXISTS upshift.tenant_logins ("
        "  owner text PRIMARY KEY, login text NOT NULL, password text NOT NULL)");
    tx.exec("REVOKE ALL ON upshift.tenant_logins FROM PUBLIC");
    made.login = LoginName(owner);
    pqxx::result kept = tx.exec_params("SELECT password FROM upshift.tenant_logins WHERE owner = $1", owner);
    if (kept.empty()) {
      made.password = absl::BytesToHexString(RandomBytes(24));
      tx.exec_params("INSERT INTO upshift.tenant_logins (owner, login, password) VALUES ($1, $2, $3)", owner,
                     made.login, made.password);
    } else {
      made.password = kept[0][0].as<std::string>();
    }
    const std::string login = tx.quote_name(made.login), group = tx.quote_name(kTenantLoginGroup);
    if (tx.exec_params("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", kTenantLoginGroup).empty()) {
      tx.exec(absl::StrCat("CREATE ROLE ", group, " NOLOGIN"));
    }
    if (tx.exec_params("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", made.login).empty()) {
      tx.exec(absl::StrCat("CREATE ROLE ", login));
    }
    // Whatever the role was made or changed into meanwhile, it is put back to exactly this.
    tx.exec(absl::StrCat("ALTER ROLE ", login,
                         " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
                         "CONNECTION LIMIT -1 VALID UNTIL 'infinity' PASSWORD ",
                         tx.quote(ScramVerifier(made.password))));
    for (const auto& row : tx.exec_params(
             "SELECT g.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid "
             "JOIN pg_catalog.pg_roles r ON r.oid = m.member WHERE r.rolname = $1 AND g.rolname <> ALL($2::text[])",
             made.login, pg::TextArrayLiteral({owner, kTenantLoginGroup}))) {
      tx.exec(absl::StrCat("REVOKE ", tx.quote_name(row[0].as<std::string>()), " FROM ", login));
    }
    tx.exec(absl::StrCat("GRANT ", tx.quote_name(owner), ", ", group, " TO ", login));
    tx.exec(absl::StrCat("COMMENT ON ROLE ", login, " IS ",
                         tx.quote(absl::StrCat("Upshift's login for the databases of role ", owner))));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return made;
}

absl::StatusOr<std::unique_ptr<pqxx::connection>> OpenAsTenant(TenantLogins& logins, const std::string& base,
                                                                const std::string& owner, const std::string& dbname) {
  absl::Status opened;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) logins.Forget(owner);
    absl::StatusOr<TenantLogin> login = logins.For(owner);
    if (!login.ok()) return login.status();
    try {
      return std::make_unique<pqxx::connection>(login->ConnInfo(base, dbname));
    } catch (const std::exception& e) {
      opened = pg::StatusFromException(e);
    }
  }
  return opened;
}

absl::Status AsTenant(TenantLogins& logins, const std::string& base, const std::string& owner,
                      const std::string& dbname, const std::function<absl::Status(pqxx::connection&)>& fn) {
  absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = OpenAsTenant(logins, base, owner, dbname);
  if (!conn.ok()) return conn.status();
  try {
    return fn(**conn);
  } catch (const std::exception& e) {
    return pg::StatusFromException(e);
  }
}

}  // namespace upshift
