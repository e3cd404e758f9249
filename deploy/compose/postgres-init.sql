-- Run once by the postgres image when its data volume is new (compose.yaml).
-- One server, one database per service, as in production (docs/deployment.md).
-- LOCAL DEVELOPMENT ONLY: every database belongs to the one POSTGRES_USER.
CREATE DATABASE auth_db;
CREATE DATABASE products_db;
CREATE DATABASE orders_db;
