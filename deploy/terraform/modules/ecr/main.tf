# One repository for the one image that both the API and the worker run. Tags are immutable, so
# a tag always names the same bytes; every push is scanned; old images expire.

resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged layers left by rebuilds expire after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest release images; older ones expire (roll back within them)"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["v", "sha-", "git-"]
          countType     = "imageCountMoreThan"
          countNumber   = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
