// Healthcheck of the `mongo` service in docker-compose.yml, run by mongosh inside the
// container. It also turns the node into a single-node replica set the first time it runs
// (transactions and change streams need a replica set) and creates each service's own user,
// so no separate init job is needed. Exit 0 only once this node is the writable primary and
// every service can sign in: services wait on service_healthy.
//
// MONGO_REPLICA_SET and MONGO_REPLICA_HOST come from the container's environment; the host
// is the name the services connect to (mongodb://mongo:27017/?replicaSet=rs0).
// MONGO_SERVICE_USERS lists "user:database" pairs; each user's password is the secret
// /run/secrets/<user>_mongo_password, and its only roles are readWrite on its database and on
// the key store of personal data (MONGO_KEYS_DATABASE, shared/vault.py), which every service
// reads and writes.
const fs = require("fs");
const replSet = process.env.MONGO_REPLICA_SET || "rs0";
const member = process.env.MONGO_REPLICA_HOST || "mongo:27017";
const secret = (name) => fs.readFileSync(`/run/secrets/${name}`, "utf8").trim();

// Authentication is on: the healthcheck signs in as the root user the image created.
db.getSiblingDB("admin").auth(process.env.MONGO_INITDB_ROOT_USERNAME, secret("mongo_root_password"));

const NOT_YET_INITIALIZED = 94;
const ALREADY_INITIALIZED = 23;

function initiated() {
  try {
    rs.status();
    return true;
  } catch (error) {
    if (error.code === NOT_YET_INITIALIZED || error.codeName === "NotYetInitialized") {
      return false;
    }
    throw error;
  }
}

if (!initiated()) {
  print(`initiating replica set ${replSet} with member ${member}`);
  try {
    rs.initiate({ _id: replSet, members: [{ _id: 0, host: member }] });
  } catch (error) {
    if (error.code !== ALREADY_INITIALIZED) {
      throw error;
    }
  }
}

function ensureServiceUsers() {
  const admin = db.getSiblingDB("admin");
  const keys = process.env.MONGO_KEYS_DATABASE || "exemplars_keys";
  for (const pair of (process.env.MONGO_SERVICE_USERS || "").split(",").filter(Boolean)) {
    const [user, database] = pair.split(":");
    const roles = [{ role: "readWrite", db: database }, { role: "readWrite", db: keys }];
    if (admin.getUser(user) === null) {
      print(`creating user ${user} (readWrite on ${database} and ${keys})`);
      admin.createUser({ user: user, pwd: secret(`${user}_mongo_password`), roles: roles });
    } else {
      admin.grantRolesToUser(user, roles); // users made before the key store existed
    }
  }
}

// A fresh replica set elects its primary within a few seconds.
for (let attempt = 0; attempt < 20; attempt++) {
  if (db.hello().isWritablePrimary) {
    ensureServiceUsers();
    quit(0);
  }
  sleep(500);
}
print(`replica set ${replSet}: this node is not primary yet`);
quit(1);
