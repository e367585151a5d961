output "results_bucket" {
  description = "Bucket the scans write to; the pipeline's --output root is gs://RESULTS_BUCKET."
  value       = module.storage.results_bucket_name
}

output "temp_bucket" {
  description = "Bucket for Dataflow temporary files."
  value       = module.storage.temp_bucket_name
}

output "staging_bucket" {
  description = "Bucket for Beam staging files (staging/), Flex Template specs (templates/) and SavedModels (models/)."
  value       = module.storage.staging_bucket_name
}

output "access_logs_bucket" {
  description = "Bucket that receives the access logs of the other buckets."
  value       = module.storage.logs_bucket_name
}

output "worker_service_account_email" {
  description = "Service account the Dataflow launcher VM and workers run as."
  value       = module.iam.worker_service_account_email
}

output "launcher_service_account_email" {
  description = "Service account that starts scans (impersonate it with --impersonate-service-account)."
  value       = module.iam.launcher_service_account_email
}

output "image_repository" {
  description = "Docker repository URL for the Flex Template image (REGION-docker.pkg.dev/PROJECT/REPOSITORY)."
  value       = module.dataflow.repository_url
}

output "template_gcs_path" {
  description = "gs:// path the Flex Template spec is expected at."
  value       = module.dataflow.template_gcs_path
}

output "subnetwork_self_link" {
  description = "Self link of the worker subnet, for gcloud dataflow flex-template run --subnetwork."
  value       = module.network.subnetwork_self_link
}

output "job_id" {
  description = "Dataflow job id of the scan launched by Terraform, or null when create_job is false."
  value       = module.dataflow.job_id
}

output "bigquery_dataset" {
  description = "PROJECT.DATASET holding the external tables reviewers query."
  value       = module.review.dataset_full_id
}

output "bigquery_tables" {
  description = "Fully qualified ids of the external tables, by result dataset name."
  value       = module.review.table_ids
}
