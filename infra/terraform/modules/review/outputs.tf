output "dataset_full_id" {
  description = "PROJECT.DATASET of the results dataset."
  value       = "${var.project_id}.${google_bigquery_dataset.results.dataset_id}"
}

output "table_ids" {
  description = "PROJECT.DATASET.TABLE of each external table, by result dataset name."
  value       = { for name, t in google_bigquery_table.results : name => "${var.project_id}.${t.dataset_id}.${t.table_id}" }
}
