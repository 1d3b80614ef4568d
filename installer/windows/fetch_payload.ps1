# Downloads the NVIDIA (CUDA) backend bundle for the VisPrompt installer, checks its
# sha256 and unpacks it into -Dest. Exit codes: 0 ok, 3 download failed, 4 checksum
# mismatch, 5 unpack failed. Called by visprompt.nsi; never run with elevated rights.
param(
    [Parameter(Mandatory = $true)][string]$Url,
    [Parameter(Mandatory = $true)][string]$Sha256,
    [Parameter(Mandatory = $true)][string]$Dest
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$archive = Join-Path $env:TEMP 'visprompt-backend-nvidia.zip'

# curl.exe ships with Windows 10 1803+; -C - resumes an interrupted earlier attempt.
$curl = Join-Path $env:SystemRoot 'System32\curl.exe'
try {
    if (Test-Path $curl) {
        & $curl --location --fail --retry 5 --retry-delay 5 --continue-at - --output $archive $Url
        if ($LASTEXITCODE -ne 0) { Write-Output "curl failed with $LASTEXITCODE"; exit 3 }
    } else {
        Invoke-WebRequest -Uri $Url -OutFile $archive -UseBasicParsing
    }
} catch {
    Write-Output "download failed: $_"
    exit 3
}

$actual = (Get-FileHash -Algorithm SHA256 -Path $archive).Hash.ToLowerInvariant()
if ($actual -ne $Sha256.ToLowerInvariant()) {
    Write-Output "sha256 mismatch: expected $Sha256, got $actual"
    Remove-Item -Force $archive
    exit 4
}

try {
    New-Item -ItemType Directory -Force -Path $Dest | Out-Null
    $tar = Join-Path $env:SystemRoot 'System32\tar.exe'
    if (Test-Path $tar) {
        & $tar -xf $archive -C $Dest --strip-components 1
        if ($LASTEXITCODE -ne 0) { throw "tar failed with $LASTEXITCODE" }
    } else {
        $tmp = Join-Path $env:TEMP 'visprompt-backend-unpack'
        Expand-Archive -Path $archive -DestinationPath $tmp -Force
        Get-ChildItem -Path (Join-Path $tmp 'visprompt-server') | Move-Item -Destination $Dest -Force
        Remove-Item -Recurse -Force $tmp
    }
} catch {
    Write-Output "unpack failed: $_"
    exit 5
}
Remove-Item -Force $archive
Write-Output "NVIDIA backend installed in $Dest"
exit 0
