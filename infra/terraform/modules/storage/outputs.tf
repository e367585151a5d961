output "results_bucket_name" {
  description = "Name of the results bucket."
  value       = google_storage_bucket.results.name
}

output "temp_bucket_name" {
  description = "Name of the Dataflow temp bucket."
  value       = google_storage_bucket.scratch["temp"].name
}

output "staging_bucket_name" {
  description = "Name of the Dataflow staging bucket (also holds templates/ and models/)."
  value       = google_storage_bucket.scratch["staging"].name
}

output "logs_bucket_name" {
  description = "Name of the access-log bucket."
  value       = google_storage_bucket.logs.name
}
