//! Migrations: one ordered list per engine, embedded in the binary, applied once
//! each inside a transaction and recorded in `hisp_migrations`. Each engine has
//! its own folder and its own history, so the two never share a table.

use sqlx::Row;

use super::{Engine, Store, StoreError};

/// A numbered migration.
struct Migration {
    /// Applied in ascending order; recorded once applied.
    version: i64,
    /// The SQL, possibly several statements.
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/sqlite/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/sqlite/0002_bundles.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/sqlite/0003_dns.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/sqlite/0004_mail.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/sqlite/0005_notify.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/sqlite/0006_notify_index.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("migrations/sqlite/0007_web.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("migrations/sqlite/0008_dashboard.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("migrations/sqlite/0009_directory.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("migrations/sqlite/0010_queue_claim.sql"),
    },
    Migration {
        version: 11,
        sql: include_str!("migrations/sqlite/0011_mailbox_list.sql"),
    },
    Migration {
        version: 12,
        sql: include_str!("migrations/sqlite/0012_match_review.sql"),
    },
    Migration {
        version: 13,
        sql: include_str!("migrations/sqlite/0013_adt_retention.sql"),
    },
    Migration {
        version: 14,
        sql: include_str!("migrations/sqlite/0014_patient_index_disputes.sql"),
    },
    Migration {
        version: 15,
        sql: include_str!("migrations/sqlite/0015_encounter_episodes.sql"),
    },
    Migration {
        version: 16,
        sql: include_str!("migrations/sqlite/0016_encounter_state_backfill.sql"),
    },
    Migration {
        version: 17,
        sql: include_str!("migrations/sqlite/0017_alert_patient.sql"),
    },
    Migration {
        version: 18,
        sql: include_str!("migrations/sqlite/0018_episode_close_and_unsent_index.sql"),
    },
    Migration {
        version: 19,
        sql: include_str!("migrations/sqlite/0019_adt_feed_order.sql"),
    },
    Migration {
        version: 20,
        sql: include_str!("migrations/sqlite/0020_alerts_by_encounter.sql"),
    },
    Migration {
        version: 21,
        sql: include_str!("migrations/sqlite/0021_adt_content_digest.sql"),
    },
    Migration {
        version: 22,
        sql: include_str!("migrations/sqlite/0022_feed_allow_from.sql"),
    },
    Migration {
        version: 23,
        sql: include_str!("migrations/sqlite/0023_feed_client_certs.sql"),
    },
    Migration {
        version: 24,
        sql: include_str!("migrations/sqlite/0024_encounter_keyed_by.sql"),
    },
    Migration {
        version: 25,
        sql: include_str!("migrations/sqlite/0025_undelivered_alerts.sql"),
    },
    Migration {
        version: 26,
        sql: include_str!("migrations/sqlite/0026_identifier_merges.sql"),
    },
    Migration {
        version: 27,
        sql: include_str!("migrations/sqlite/0027_set_apart.sql"),
    },
    Migration {
        version: 28,
        sql: include_str!("migrations/sqlite/0028_apart_per_record.sql"),
    },
    Migration {
        version: 29,
        sql: include_str!("migrations/sqlite/0029_control_id_encounters_marked.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/postgres/0002_bundles.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/postgres/0003_dns.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/postgres/0004_mail.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/postgres/0005_notify.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/postgres/0006_notify_index.sql"),
    },
    Migration {
        version: 7,
        sql: include_str!("migrations/postgres/0007_web.sql"),
    },
    Migration {
        version: 8,
        sql: include_str!("migrations/postgres/0008_dashboard.sql"),
    },
    Migration {
        version: 9,
        sql: include_str!("migrations/postgres/0009_directory.sql"),
    },
    Migration {
        version: 10,
        sql: include_str!("migrations/postgres/0010_queue_claim.sql"),
    },
    Migration {
        version: 11,
        sql: include_str!("migrations/postgres/0011_mailbox_list.sql"),
    },
    Migration {
        version: 12,
        sql: include_str!("migrations/postgres/0012_match_review.sql"),
    },
    Migration {
        version: 13,
        sql: include_str!("migrations/postgres/0013_adt_retention.sql"),
    },
    Migration {
        version: 14,
        sql: include_str!("migrations/postgres/0014_patient_index_disputes.sql"),
    },
    Migration {
        version: 15,
        sql: include_str!("migrations/postgres/0015_encounter_episodes.sql"),
    },
    Migration {
        version: 16,
        sql: include_str!("migrations/postgres/0016_encounter_state_backfill.sql"),
    },
    Migration {
        version: 17,
        sql: include_str!("migrations/postgres/0017_alert_patient.sql"),
    },
    Migration {
        version: 18,
        sql: include_str!("migrations/postgres/0018_episode_close_and_unsent_index.sql"),
    },
    Migration {
        version: 19,
        sql: include_str!("migrations/postgres/0019_adt_feed_order.sql"),
    },
    Migration {
        version: 20,
        sql: include_str!("migrations/postgres/0020_alerts_by_encounter.sql"),
    },
    Migration {
        version: 21,
        sql: include_str!("migrations/postgres/0021_adt_content_digest.sql"),
    },
    Migration {
        version: 22,
        sql: include_str!("migrations/postgres/0022_feed_allow_from.sql"),
    },
    Migration {
        version: 23,
        sql: include_str!("migrations/postgres/0023_feed_client_certs.sql"),
    },
    Migration {
        version: 24,
        sql: include_str!("migrations/postgres/0024_encounter_keyed_by.sql"),
    },
    Migration {
        version: 25,
        sql: include_str!("migrations/postgres/0025_undelivered_alerts.sql"),
    },
    Migration {
        version: 26,
        sql: include_str!("migrations/postgres/0026_identifier_merges.sql"),
    },
    Migration {
        version: 27,
        sql: include_str!("migrations/postgres/0027_set_apart.sql"),
    },
    Migration {
        version: 28,
        sql: include_str!("migrations/postgres/0028_apart_per_record.sql"),
    },
    Migration {
        version: 29,
        sql: include_str!("migrations/postgres/0029_control_id_encounters_marked.sql"),
    },
];

/// Apply every migration the database has not seen yet.
pub(super) async fn run(store: &Store) -> Result<(), StoreError> {
    let pool = store.pool();
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS hisp_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let list = match store.engine() {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => POSTGRES,
    };
    for m in list {
        let mut tx = pool.begin().await?;
        if store.engine() == Engine::Postgres {
            // Several nodes may start at once: one migrates, the others wait.
            sqlx::query("LOCK TABLE hisp_migrations IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        let seen = sqlx::query("SELECT COUNT(*) FROM hisp_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>(0)?;
        if seen > 0 {
            tx.commit().await?;
            continue;
        }
        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO hisp_migrations (version, applied_at) VALUES ($1, 0)")
            .bind(m.version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, "applied migration");
    }
    Ok(())
}
