# Two roles per task. The execution role is what ECS itself uses to start a task: pull the one
# image, read exactly the three secrets of this deployment and write to its two log groups.
# The task role is what the application code gets: starkrelay calls no AWS API, so it has no
# permissions at all.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${var.partition}:ecs:${var.region}:${var.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-ecs-execution"
  description        = "Starts starkrelay tasks: pulls the image, reads its secrets, writes its logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource type: IAM accepts only "*" for it. It returns a
  # registry login; the pull itself is limited to one repository by the next statement.
  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullTheServiceImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.repository_arn]
  }

  statement {
    sid     = "ReadTheServiceSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      var.secret_arns.stark_private_key,
      var.secret_arns.admin_token,
      var.secret_arns.redis_auth_token,
    ]
  }

  statement {
    sid       = "DecryptTheSecretsThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }

  statement {
    sid     = "WriteTheServiceLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      for group in aws_cloudwatch_log_group.service : "${group.arn}:log-stream:*"
    ]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-starkrelay-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "Identity of the starkrelay application code: no AWS permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}
