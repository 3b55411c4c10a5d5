-- Run once by the mysql:8.0 image on an empty data volume (mounted into /docker-entrypoint-initdb.d by
-- docker-compose.yml). The two databases and users of the original system: each service owns its database
-- (order_db / orderuser / orderpass, analytics_db / analyticsuser / analyticspass), as scripts/stack creates them
-- on MariaDB. The services create their own tables (migrations run at start-up, or `ordersystem migrate`).
CREATE DATABASE IF NOT EXISTS `order_db` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS `analytics_db` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE USER IF NOT EXISTS 'orderuser'@'%' IDENTIFIED BY 'orderpass';
GRANT ALL PRIVILEGES ON `order_db`.* TO 'orderuser'@'%';

CREATE USER IF NOT EXISTS 'analyticsuser'@'%' IDENTIFIED BY 'analyticspass';
GRANT ALL PRIVILEGES ON `analytics_db`.* TO 'analyticsuser'@'%';

FLUSH PRIVILEGES;
