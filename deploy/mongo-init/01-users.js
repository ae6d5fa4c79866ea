// Runs once when the MongoDB container initialises its data directory.
// Each service gets a user limited to its own database; the audit service's role can
// only insert into and find in the audit log: no update, no remove, no drop, no dropIndex,
// no collMod. The collections are the ones services/audit/src/audit/adapters/store.py uses:
// audit_entries (one document per entry) and checkpoints (one per signed checkpoint);
// createIndex lets the service create its indexes at start-up, which cannot change data.
const env = (name) => process.env[name];

const auditDb = db.getSiblingDB("audit");
auditDb.createRole({
  role: "auditAppendOnly",
  privileges: [
    { resource: { db: "audit", collection: "audit_entries" }, actions: ["insert", "find", "createIndex", "listIndexes"] },
    { resource: { db: "audit", collection: "checkpoints" }, actions: ["insert", "find", "createIndex", "listIndexes"] },
    { resource: { db: "audit", collection: "" }, actions: ["listCollections"] },
  ],
  roles: [],
});
auditDb.createUser({ user: "audit", pwd: env("AUDIT_DB_PASSWORD"), roles: ["auditAppendOnly"] });

for (const name of ["intake", "processing", "notification"]) {
  db.getSiblingDB(name).createUser({
    user: name,
    pwd: env(`${name.toUpperCase()}_DB_PASSWORD`),
    roles: [{ role: "readWrite", db: name }],
  });
}
