output "repository_url" {
  description = "Docker repository URL (REGION-docker.pkg.dev/PROJECT/REPOSITORY)."
  value       = local.repository_url
}

output "template_gcs_path" {
  description = "gs:// path of the Flex Template spec the job launches."
  value       = local.template_gcs_path
}

output "job_id" {
  description = "Dataflow job id, or null when no job is created."
  value       = one(google_dataflow_flex_template_job.scan[*].job_id)
}
