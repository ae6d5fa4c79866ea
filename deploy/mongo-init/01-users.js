// Runs once when the MongoDB container initialises its data directory.
// Each service gets a user limited to its own database; the audit service's role can
// only insert into and find in the audit log: no update, no delete, no drop.
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
